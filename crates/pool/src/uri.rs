//! Percent-decoding of URI components (paths, query keys and values).

/// Decodes `%XX` escapes; an invalid or cut-short escape is kept as written.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// [`percent_decode`] as text: bytes that do not form UTF-8 become U+FFFD.
pub fn percent_decode_lossy(s: &str) -> String {
    match String::from_utf8(percent_decode(s)) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_and_broken_ones_stay() {
        assert_eq!(percent_decode("a%2Fb%2a"), b"a/b*");
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%4"), b"%4");
        assert_eq!(percent_decode("%zz%41"), b"%zzA");
        assert_eq!(percent_decode("%FF"), [0xff]);
        assert_eq!(percent_decode_lossy("caf%C3%A9"), "café");
        assert_eq!(percent_decode_lossy("%FF"), "\u{fffd}");
    }
}
