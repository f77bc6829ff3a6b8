//! The HTTP/2 header-block guard in front of h2 at the gateway and the ALB
//! (crates/net/src/h2guard/): a client's frames in, what h2 would read out.
//!
//! Input: one byte choosing how the bytes arrive (bits 0-2: whole, or in pieces of 1, 2, 7, 64,
//! 1,000 or 9,000 bytes) and whether the connection preface is put in front of them (bit 3
//! clear), then the client's bytes. Checked: nothing panics; the output does not depend on how
//! the bytes arrived; and, unless the guard stopped inspecting, screening its output again
//! changes nothing (every header block it lets through, rewritten or not, is one h2 decodes
//! without error, with the table the guard expects).

#![no_main]

use airlock_net::h2guard::{HYPER_MAX_HEADER_LIST_SIZE, screen_stream};
use libfuzzer_sys::fuzz_target;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = Vec::with_capacity(rest.len() + PREFACE.len());
    if how & 8 == 0 {
        bytes.extend_from_slice(PREFACE);
    }
    bytes.extend_from_slice(rest);
    let size = [usize::MAX, 1, 2, 7, 64, 1000, 9000, 3][usize::from(how & 7)];
    let limit = HYPER_MAX_HEADER_LIST_SIZE;
    let whole = screen_stream([&bytes[..]], limit);
    if size != usize::MAX {
        let pieces = screen_stream(bytes.chunks(size), limit);
        assert!(
            pieces.bytes == whole.bytes,
            "pieces of {size} give another output"
        );
        assert_eq!(pieces.stopped, whole.stopped);
    }
    if !whole.stopped {
        // A rewritten block may be larger than the guard holds of a client's (raw strings
        // instead of Huffman-coded ones); h2, which reads it, has no such limit.
        let again = screen_stream([&whole.bytes[..]], limit * 8);
        assert!(!again.stopped, "the guard stops on its own output");
        assert!(again.bytes == whole.bytes, "its output is not a fixed point");
    }
});
