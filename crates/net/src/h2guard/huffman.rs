//! HPACK's Huffman code (RFC 7541 §5.2 and Appendix B), decoding only.
//!
//! The code is canonical: within each code length, codes are assigned in symbol order, and the
//! first code of a length follows the last code of the previous length (shifted left). So the
//! code lengths alone, listed below by length, give every code of Appendix B; a unit test checks
//! a few codes against the appendix.
//!
//! Decoding walks a state table a byte at a time. Its states are the internal nodes of the code
//! tree (256 of them for 257 leaves, so a state fits a byte); each entry says which state
//! follows a byte, and which symbols the byte completed: at most two, since a code is at least
//! five bits long. The table (256 states by 256 bytes, 256 KiB; the states a string visits are
//! few, so little of it is ever in cache) is built once, on first use.

use std::sync::OnceLock;

/// The end-of-string symbol: its code (thirty one-bits) must never appear in a string
/// (RFC 7541 §5.2).
const EOS: u16 = 256;

/// Every symbol (0–255, and [`EOS`]) grouped by the length of its code, RFC 7541 Appendix B.
const BY_LENGTH: [(u32, &[u16]); 18] = [
    (5, &[48, 49, 50, 97, 99, 101, 105, 111, 115, 116]),
    (
        6,
        &[
            32, 37, 45, 46, 47, 51, 52, 53, 54, 55, 56, 57, 61, 65, 95, 98, 100, 102, 103, 104,
            108, 109, 110, 112, 114, 117,
        ],
    ),
    (
        7,
        &[
            58, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86,
            87, 89, 106, 107, 113, 118, 119, 120, 121, 122,
        ],
    ),
    (8, &[38, 42, 44, 59, 88, 90]),
    (10, &[33, 34, 40, 41, 63]),
    (11, &[39, 43, 124]),
    (12, &[35, 62]),
    (13, &[0, 36, 64, 91, 93, 126]),
    (14, &[94, 125]),
    (15, &[60, 96, 123]),
    (19, &[92, 195, 208]),
    (20, &[128, 130, 131, 162, 184, 194, 224, 226]),
    (
        21,
        &[
            153, 161, 167, 172, 176, 177, 179, 209, 216, 217, 227, 229, 230,
        ],
    ),
    (
        22,
        &[
            129, 132, 133, 134, 136, 146, 154, 156, 160, 163, 164, 169, 170, 173, 178, 181, 185,
            186, 187, 189, 190, 196, 198, 228, 232, 233,
        ],
    ),
    (
        23,
        &[
            1, 135, 137, 138, 139, 140, 141, 143, 147, 149, 150, 151, 152, 155, 157, 158, 165, 166,
            168, 174, 175, 180, 182, 183, 188, 191, 197, 231, 239,
        ],
    ),
    (
        24,
        &[9, 142, 144, 145, 148, 159, 171, 206, 215, 225, 236, 237],
    ),
    (25, &[199, 207, 234, 235]),
    (
        26,
        &[
            192, 193, 200, 201, 202, 205, 210, 213, 218, 219, 238, 240, 242, 243, 255,
        ],
    ),
];

/// The two longest lengths, kept apart so that [`BY_LENGTH`] stays one array type.
const LONGEST: [(u32, &[u16]); 3] = [
    (
        27,
        &[
            203, 204, 211, 212, 214, 221, 222, 223, 241, 244, 245, 246, 247, 248, 250, 251, 252,
            253, 254,
        ],
    ),
    (
        28,
        &[
            2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28,
            29, 30, 31, 127, 220, 249,
        ],
    ),
    (30, &[10, 13, 22, EOS]),
];

/// `(code, length)` of every symbol, indexed by symbol.
pub(super) fn codes() -> [(u32, u32); 257] {
    let mut out = [(0, 0); 257];
    let mut code: u32 = 0;
    let mut previous = 0;
    for (length, symbols) in BY_LENGTH.iter().chain(LONGEST.iter()) {
        if previous != 0 {
            code <<= length - previous;
        }
        for &symbol in *symbols {
            out[usize::from(symbol)] = (code, *length);
            code += 1;
        }
        previous = *length;
    }
    out
}

/// One step of the decoder, packed: the next state (bits 0-7), the first and second symbol
/// the byte completed (bits 8-15, 16-23), how many it completed (bits 24-25), and [`FAIL`].
type Step = u32;

/// The byte completed [`EOS`]: the string is invalid.
const FAIL: u32 = 1 << 26;

struct Table {
    /// Indexed by `state << 8 | byte`; a fixed size, so that the index needs no bounds check.
    steps: Box<[Step; 1 << 16]>,
    /// Whether a string may end in this state: at a symbol boundary, or inside padding, which is
    /// fewer than eight bits, all ones (the start of EOS's code).
    accept: [bool; 256],
}

/// A node of the code tree while the table is built: children are internal nodes or symbols.
#[derive(Clone, Copy)]
enum Child {
    None,
    Node(u8),
    Leaf(u16),
}

fn build() -> Table {
    let mut nodes: Vec<[Child; 2]> = vec![[Child::None; 2]];
    // (depth, all ones so far) of each internal node.
    let mut shape: Vec<(u32, bool)> = vec![(0, true)];
    for (symbol, (code, length)) in codes().iter().enumerate() {
        let mut node = 0usize;
        for bit_index in (0..*length).rev() {
            let bit = ((code >> bit_index) & 1) as usize;
            if bit_index == 0 {
                // `symbol` < 257 by construction of `codes`.
                nodes[node][bit] = Child::Leaf(symbol as u16);
            } else {
                node = match nodes[node][bit] {
                    Child::Node(n) => usize::from(n),
                    _ => {
                        // A canonical code over 257 symbols has exactly 256 internal nodes.
                        let n = u8::try_from(nodes.len()).unwrap_or(u8::MAX);
                        let (depth, ones) = shape[node];
                        nodes.push([Child::None; 2]);
                        shape.push((depth + 1, ones && bit == 1));
                        nodes[node][bit] = Child::Node(n);
                        usize::from(n)
                    }
                };
            }
        }
    }
    let mut steps: Box<[Step; 1 << 16]> = vec![FAIL; 1 << 16]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("the vector has the array's length"));
    for state in 0..nodes.len() {
        for byte in 0..256usize {
            let mut node = state;
            let mut step: Step = 0;
            let mut count: u32 = 0;
            for shift in (0..8).rev() {
                match nodes[node][(byte >> shift) & 1] {
                    Child::Node(n) => node = usize::from(n),
                    Child::Leaf(EOS) | Child::None => {
                        step |= FAIL;
                        break;
                    }
                    Child::Leaf(symbol) => {
                        // At most two symbols end in a byte: every code is five bits or more.
                        step |= u32::from(symbol) << (8 + 8 * count);
                        count += 1;
                        node = 0;
                    }
                }
            }
            steps[state << 8 | byte] = step | count << 24 | (node as u32 & 0xff);
        }
    }
    let mut accept = [false; 256];
    for (state, (depth, ones)) in shape.iter().enumerate().take(256) {
        accept[state] = state == 0 || (*ones && *depth < 8);
    }
    Table { steps, accept }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build)
}

/// Decodes `src` and appends the result to `out`; `Err` for what RFC 7541 §5.2 makes a decoding
/// error (EOS in the string, padding of eight bits or more, padding that is not all ones).
pub(super) fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
    let table = table();
    let from = out.len();
    // At most one symbol per five bits, and room for the two writes after the last symbol.
    out.resize(from + src.len() * 8 / 5 + 2, 0);
    let dst = &mut out[from..];
    let mut o = 0;
    let mut state = 0usize;
    let mut failed = 0;
    // Without branches per byte: both symbol slots are written whatever the byte completed,
    // and only the completed ones kept; a failure is noted and told at the end.
    for &byte in src {
        let step = table.steps[(state << 8 | usize::from(byte)) & 0xffff];
        failed |= step & FAIL;
        if let Some(pair) = dst.get_mut(o..o + 2) {
            pair[0] = (step >> 8) as u8;
            pair[1] = (step >> 16) as u8;
        }
        o += (step >> 24 & 3) as usize;
        state = (step & 0xff) as usize;
    }
    out.truncate(from + o);
    if failed == 0 && table.accept[state] {
        Ok(())
    } else {
        Err(())
    }
}

/// Encodes `src` (tests and the benchmark build Huffman-coded fields with it).
pub(super) fn encode(src: &[u8]) -> Vec<u8> {
    let codes = codes();
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u64, 0u32);
    for &b in src {
        let (code, length) = codes[usize::from(b)];
        acc = (acc << length) | u64::from(code);
        bits += length;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        out.push(((acc << (8 - bits)) as u8) | (0xff >> bits));
    }
    out
}
