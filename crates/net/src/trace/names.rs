//! Names of steps, outcomes, fields and static values, numbered: a hop keeps two bytes per
//! name instead of a sixteen-byte `&'static str`, so a kept hop is a quarter of the size and
//! a ring of old traces writes that much less into cold memory per request.
//!
//! Numbers are given process-wide the first time a name is seen and never change. A shared
//! memo of atomics maps a name's address and length to its number, so numbering a name on
//! the request path is a multiply, a load and a compare, with no lock, no thread-local and
//! no call. The table grows with distinct names only: the components' literals and the names
//! [`super::intern`] keeps from the stacks' configurations.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

/// A name's number (0: no name).
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Name(u16);

impl Name {
    /// No name: an unset field's.
    pub const NONE: Name = Name(0);

    /// The number of `name`, numbering it if it is new (an empty name is [`Name::NONE`]).
    #[inline(always)]
    pub fn of(name: &'static str) -> Name {
        let Some(key) = key_of(name) else {
            return if name.is_empty() {
                Name::NONE
            } else {
                number(name)
            };
        };
        let mut at = home(key);
        for _ in 0..PROBES {
            // Acquire: the number was stored before the key that announces it.
            match MEMO_KEYS[at].load(Ordering::Acquire) {
                k if k == key => return Name(MEMO_NUMBERS[at].load(Ordering::Relaxed)),
                0 => break,
                _ => at = (at + 1) & (MEMO - 1),
            }
        }
        remember(name, key)
    }

    /// The name's text ("" for none).
    pub fn as_str(self) -> &'static str {
        if self.0 == 0 {
            return "";
        }
        let table = TABLE.read().unwrap_or_else(|e| e.into_inner());
        table
            .list
            .get(usize::from(self.0) - 1)
            .copied()
            .unwrap_or(UNNUMBERED)
    }

    /// Whether this is no name.
    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    /// The number as packed.
    pub fn to_bits(self) -> u16 {
        self.0
    }

    /// A packed number back (a number never given reads as [`UNNUMBERED`]).
    pub fn from_bits(bits: u16) -> Name {
        Name(bits)
    }
}

impl From<&'static str> for Name {
    #[inline(always)]
    fn from(name: &'static str) -> Name {
        Name::of(name)
    }
}

/// A name written at one place in the code ([`crate::name!`]): its number is looked up the
/// first time that place runs and read from here after, one load.
pub struct NameSite {
    text: &'static str,
    number: AtomicU16,
}

impl NameSite {
    /// The place of `text` (made by [`crate::name!`]).
    pub const fn new(text: &'static str) -> NameSite {
        NameSite {
            text,
            number: AtomicU16::new(0),
        }
    }

    /// The name's number.
    #[inline(always)]
    pub fn get(&self) -> Name {
        match self.number.load(Ordering::Relaxed) {
            0 => self.first(),
            n => Name(n),
        }
    }

    #[cold]
    fn first(&self) -> Name {
        let n = Name::of(self.text);
        self.number.store(n.0, Ordering::Relaxed);
        n
    }
}

/// A trace name written in the code, numbered once for this place: `name!("route")` is
/// `Name::of("route")` without the look-up on every request.
#[macro_export]
macro_rules! name {
    ($text:literal) => {{
        static SITE: $crate::trace::NameSite = $crate::trace::NameSite::new($text);
        SITE.get()
    }};
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// What a name reads as when it could not be numbered: the table was full (a process would
/// need tens of thousands of distinct routes, rules and stage names to fill it).
pub const UNNUMBERED: &str = "(a name past the trace table's 65,535)";

/// The process's numbered names: number `i + 1` is `list[i]`.
#[derive(Default)]
struct Table {
    list: Vec<&'static str>,
    numbers: Option<HashMap<&'static str, u16>>,
}

static TABLE: RwLock<Table> = RwLock::new(Table {
    list: Vec::new(),
    numbers: None,
});

/// The number of `name`, numbering it if it is new; [`Name::NONE`] when the table is full.
#[cold]
fn number(name: &'static str) -> Name {
    number_in(&mut TABLE.write().unwrap_or_else(|e| e.into_inner()), name)
}

fn number_in(table: &mut Table, name: &'static str) -> Name {
    let Table { list, numbers } = table;
    let numbers = numbers.get_or_insert_with(HashMap::new);
    if let Some(&n) = numbers.get(name) {
        return Name(n);
    }
    if list.len() >= usize::from(u16::MAX) {
        return Name::NONE;
    }
    list.push(name);
    let n = list.len() as u16;
    numbers.insert(name, n);
    Name(n)
}

/// Slots in the memo of numbers (a power of two): room for the few hundred names a process
/// uses at a quarter full. A name whose slots are all taken is numbered under the table's
/// lock each time instead.
const MEMO: usize = 4096;

/// Slots a name may be found in, from its first.
const PROBES: usize = 8;

/// The memo: a name's key ([`key_of`]; 0 for an empty slot), and its number. A slot is
/// written once, under the table's lock, number first.
static MEMO_KEYS: [AtomicU64; MEMO] = [const { AtomicU64::new(0) }; MEMO];
static MEMO_NUMBERS: [AtomicU16; MEMO] = [const { AtomicU16::new(0) }; MEMO];

/// A name's address and length in one word (addresses of user space fit in 47 bits); `None`
/// for the empty name or one that does not fit.
#[inline(always)]
fn key_of(name: &'static str) -> Option<u64> {
    let addr = name.as_ptr() as u64;
    let len = name.len() as u64;
    (len != 0 && addr < 1 << 47 && len < 1 << 16).then_some((len << 47) | addr)
}

/// The memo slot a key is looked for from.
#[inline(always)]
fn home(key: u64) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize & (MEMO - 1)
}

/// Numbers `name` and, when there is a free slot among its own, remembers its number.
#[cold]
fn remember(name: &'static str, key: u64) -> Name {
    // Numbered and remembered under one hold of the lock, so that two threads never write
    // one slot.
    let mut table = TABLE.write().unwrap_or_else(|e| e.into_inner());
    let n = number_in(&mut table, name);
    if n.is_none() {
        return n;
    }
    let mut at = home(key);
    for _ in 0..PROBES {
        match MEMO_KEYS[at].load(Ordering::Relaxed) {
            k if k == key => break,
            0 => {
                MEMO_NUMBERS[at].store(n.0, Ordering::Relaxed);
                MEMO_KEYS[at].store(key, Ordering::Release);
                break;
            }
            _ => at = (at + 1) & (MEMO - 1),
        }
    }
    n
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_numbered_once_whatever_their_address() {
        let leaked: &'static str = Box::leak(String::from("a name made at run time").into());
        let a = Name::of(leaked);
        assert!(!a.is_none());
        assert_eq!(Name::of("a name made at run time"), a);
        assert_eq!(a.as_str(), "a name made at run time");
        assert_eq!(Name::of(""), Name::NONE);
        assert_eq!(Name::NONE.as_str(), "");
        assert_eq!(Name::from_bits(u16::MAX).as_str(), UNNUMBERED);
    }

    #[test]
    fn a_name_written_in_the_code_is_the_name() {
        let at_site = || crate::name!("a name at a place in the code");
        assert_eq!(at_site(), Name::of("a name at a place in the code"));
        assert_eq!(at_site(), at_site());
        assert_eq!(at_site().as_str(), "a name at a place in the code");
    }

    #[test]
    fn many_names_keep_their_numbers() {
        // More names than the memo has room for: every one still reads back as itself.
        let many: Vec<&'static str> = (0..(MEMO + 500))
            .map(|i| &*Box::leak(format!("name {i}").into_boxed_str()))
            .collect();
        let numbers: Vec<Name> = many.iter().map(|n| Name::of(n)).collect();
        for (name, &n) in many.iter().zip(&numbers) {
            assert!(!n.is_none());
            assert_eq!(Name::of(name), n);
            assert_eq!(n.as_str(), *name);
        }
    }

    #[test]
    fn names_are_numbered_alike_from_many_threads() {
        let names: Vec<&'static str> = (0..64)
            .map(|i| &*Box::leak(format!("shared name {i}").into_boxed_str()))
            .collect();
        let seen: Vec<Vec<Name>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| names.iter().map(|n| Name::of(n)).collect::<Vec<_>>()))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        for other in &seen[1..] {
            assert_eq!(other, &seen[0]);
        }
    }
}
