#![allow(clippy::unwrap_used)]

use super::hpack::{MARKER, Mirror, Verdict};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn fields(decoded: &[hpack::Decoded]) -> Vec<(String, String)> {
    decoded
        .iter()
        .map(|d| {
            (
                String::from_utf8_lossy(&d.name).into_owned(),
                String::from_utf8_lossy(&d.value).into_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

// ----- Huffman (RFC 7541 Appendix B) -----

#[test]
fn huffman_codes_match_appendix_b() {
    let codes = huffman::codes();
    // A few rows of the appendix's table, from the shortest code to EOS.
    assert_eq!(codes[usize::from(b'0')], (0x0, 5));
    assert_eq!(codes[usize::from(b'a')], (0x3, 5));
    assert_eq!(codes[usize::from(b' ')], (0x14, 6));
    assert_eq!(codes[usize::from(b':')], (0x5c, 7));
    assert_eq!(codes[usize::from(b'&')], (0xf8, 8));
    assert_eq!(codes[0], (0x1ff8, 13));
    assert_eq!(codes[usize::from(b'\\')], (0x7fff0, 19));
    assert_eq!(codes[255], (0x3ffffee, 26));
    assert_eq!(codes[usize::from(b'\n')], (0x3ffffffc, 30));
    assert_eq!(codes[256], (0x3fffffff, 30));
}

#[test]
fn huffman_decodes_every_octet_and_refuses_what_rfc_7541_refuses() {
    let all: Vec<u8> = (0..=255).collect();
    let mut out = Vec::new();
    huffman::decode(&huffman::encode(&all), &mut out).unwrap();
    assert_eq!(out, all);
    // "o" is 00111, then three padding ones.
    out.clear();
    huffman::decode(&[0b0011_1111], &mut out).unwrap();
    assert_eq!(out, b"o");
    // Padding of eight bits or more (RFC 7541 §5.2).
    assert!(huffman::decode(&[0b0011_1111, 0xff], &mut Vec::new()).is_err());
    // Padding that is not all ones.
    assert!(huffman::decode(&[0b0011_1110], &mut Vec::new()).is_err());
    // EOS inside the string.
    assert!(huffman::decode(&[0xff, 0xff, 0xff, 0xfc], &mut Vec::new()).is_err());
    // The empty string.
    assert!(huffman::decode(&[], &mut Vec::new()).is_ok());
}

// ----- The HPACK mirror against RFC 7541 Appendix C -----

#[test]
fn static_names_are_classified_as_their_text() {
    for (i, (name, _)) in hpack::STATIC.iter().enumerate() {
        assert_eq!(
            hpack::static_name(i + 1),
            hpack::classify(name.as_bytes()),
            "{name}"
        );
    }
}

/// One example of RFC 7541 Appendix C: the block in hex, its fields, and the dynamic table's
/// entry sizes after it, newest first.
type Example<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [usize]);

/// Decodes each block in turn and checks its fields and the dynamic table after it.
fn appendix(limit: usize, blocks: &[Example<'_>]) {
    let mut mirror = Mirror::new(limit);
    for (block, expected, sizes) in blocks {
        let (verdict, decoded, _) = mirror.decode_fields(&hex(block));
        assert_eq!(verdict, Verdict::Fine, "{block}");
        // Indexed dynamic entries are reported without their text; compare the rest.
        let got: Vec<_> = fields(&decoded)
            .into_iter()
            .zip(pairs(expected))
            .map(|(g, e)| if g.0.is_empty() { e } else { g })
            .collect();
        assert_eq!(got, pairs(expected), "{block}");
        assert_eq!(decoded.len(), expected.len());
        assert_eq!(mirror.sizes(), *sizes, "{block}");
        assert_eq!(mirror.size(), sizes.iter().sum::<usize>());
    }
}

const C3_1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const C3_2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const C3_3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

#[test]
fn c3_requests_without_huffman() {
    appendix(
        4096,
        &[
            ("828684410f7777772e6578616d706c652e636f6d", C3_1, &[57]),
            ("828684be58086e6f2d6361636865", C3_2, &[53, 57]),
            (
                "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
                C3_3,
                &[54, 53, 57],
            ),
        ],
    );
}

#[test]
fn c4_requests_with_huffman() {
    appendix(
        4096,
        &[
            ("828684418cf1e3c2e5f23a6ba0ab90f4ff", C3_1, &[57]),
            ("828684be5886a8eb10649cbf", C3_2, &[53, 57]),
            (
                "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
                C3_3,
                &[54, 53, 57],
            ),
        ],
    );
}

const C5_1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const C5_2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const C5_3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];

#[test]
fn c5_responses_without_huffman_evict() {
    appendix(
        256,
        &[
            (
                "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
                C5_1,
                &[63, 65, 52, 42],
            ),
            ("4803333037c1c0bf", C5_2, &[42, 63, 65, 52]),
            (
                "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
                C5_3,
                &[98, 52, 65],
            ),
        ],
    );
}

#[test]
fn c6_responses_with_huffman_evict() {
    appendix(
        256,
        &[
            (
                "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
                C5_1,
                &[63, 65, 52, 42],
            ),
            ("4883640effc1c0bf", C5_2, &[42, 63, 65, 52]),
            (
                "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
                C5_3,
                &[98, 52, 65],
            ),
        ],
    );
}

// ----- Refused fields and the rewrite -----

/// A literal field (RFC 7541 §6.2): `kind` 0x00 without indexing, 0x10 never indexed, 0x40 with
/// incremental indexing; raw or Huffman-coded strings.
fn literal(kind: u8, name: &[u8], value: &[u8], huffman: bool) -> Vec<u8> {
    let mut out = vec![kind];
    for s in [name, value] {
        if huffman {
            let coded = huffman::encode(s);
            hpack::put_integer(&mut out, 0x80, 7, coded.len());
            out.extend_from_slice(&coded);
        } else {
            hpack::put_integer(&mut out, 0, 7, s.len());
            out.extend_from_slice(s);
        }
    }
    out
}

/// `GET /` over https to `example.com`, then `extra`.
fn request(extra: &[u8]) -> Vec<u8> {
    let mut block = vec![0x82, 0x87, 0x84];
    block.extend(literal(0x00, b":authority", b"example.com", false));
    block.extend_from_slice(extra);
    block
}

/// Screens `block` with `client`, then decodes what h2 would get with `server` (the server's
/// own table): h2 must accept it, its table must stay the client's, and a rewritten block must
/// end with the marker and keep every field's lengths.
fn screen_pair(client: &mut Mirror, server: &mut Mirror, block: &[u8]) -> Verdict {
    let (verdict, before, work) = client.decode_fields(block);
    let sent = match verdict {
        Verdict::Fine => block.to_vec(),
        Verdict::Rewritten { .. } => work.block.clone(),
        Verdict::Unknown => return verdict,
    };
    let (server_verdict, after, _) = server.decode_fields(&sent);
    assert_eq!(server_verdict, Verdict::Fine, "h2 decodes what it is sent");
    assert!(
        after.iter().all(|f| !f.bad),
        "h2 refuses no field: {after:?}"
    );
    assert_eq!(client.sizes(), server.sizes(), "the tables stay in step");
    if let Verdict::Rewritten { .. } = verdict {
        assert!(sent.ends_with(MARKER));
        let last = after.last().unwrap();
        assert_eq!(
            (&last.name[..], &last.value[..]),
            (&b"connection"[..], &b"x"[..])
        );
        assert_eq!(after.len(), before.len() + 1);
    }
    verdict
}

fn rewritten(v: &Verdict) -> bool {
    matches!(v, Verdict::Rewritten { .. })
}

#[test]
fn fine_blocks_are_not_rewritten() {
    let (mut c, mut s) = (Mirror::new(4096), Mirror::new(4096));
    for extra in [
        literal(0x40, b"x-fine", b"1", false),
        literal(0x10, b"x-secret", b"\x80\xff obs-text", true),
        literal(0x00, b"x-quote\"d", b"tab\tok", false),
        literal(0x40, b":protocol", b"websocket", true),
    ] {
        assert_eq!(screen_pair(&mut c, &mut s, &request(&extra)), Verdict::Fine);
    }
}

#[test]
fn refused_fields_are_replaced_and_the_stream_marked() {
    let bad: &[(&[u8], &[u8])] = &[
        (b":foo", b"bar"),
        (b"X-Upper", b"1"),
        (b"x-nul", b"a\0b"),
        (b"x-crlf", b"a\r\nb"),
        (b"x-del", b"\x7f"),
        (b"x space", b"1"),
        (b"", b"empty name"),
        (b":method", b"G T"),
        (b":method", b""),
        (b":path", b"/\xff"),
        (b":status", b"099"),
    ];
    for (name, value) in bad {
        for kind in [0x00, 0x10, 0x40] {
            for huffman in [false, true] {
                let (mut c, mut s) = (Mirror::new(4096), Mirror::new(4096));
                let block = request(&literal(kind, name, value, huffman));
                let v = screen_pair(&mut c, &mut s, &block);
                assert!(rewritten(&v), "{name:?} {value:?} {kind} {huffman}: {v:?}");
                // The next request on the connection is untouched.
                let next = request(&literal(0x00, b"x-next", b"1", false));
                assert_eq!(screen_pair(&mut c, &mut s, &next), Verdict::Fine);
            }
        }
    }
}

#[test]
fn a_bad_method_by_name_index_is_refused() {
    let (mut c, mut s) = (Mirror::new(4096), Mirror::new(4096));
    // `:method` named by static index 2, value "G\x01T".
    let mut block = vec![0x02, 0x03, b'G', 1, b'T', 0x87, 0x84];
    block.extend(literal(0x00, b":authority", b"example.com", false));
    assert!(rewritten(&screen_pair(&mut c, &mut s, &block)));
}

#[test]
fn a_bad_entry_referenced_later_is_refused_again() {
    let (mut c, mut s) = (Mirror::new(4096), Mirror::new(4096));
    let first = request(&literal(0x40, b"X-Upper", b"one", true));
    assert!(rewritten(&screen_pair(&mut c, &mut s, &first)));
    // Indexed: dynamic index 62 is the bad entry.
    assert!(rewritten(&screen_pair(&mut c, &mut s, &request(&[0xbe]))));
    // Its name by index, with indexing: the new entry is bad too.
    let by_name = [0x7e, 0x03, b't', b'w', b'o'];
    assert!(rewritten(&screen_pair(&mut c, &mut s, &request(&by_name))));
    assert!(rewritten(&screen_pair(&mut c, &mut s, &request(&[0xbe]))));
    // A good entry added after them is fine to reference.
    let good = request(&literal(0x40, b"x-good", b"1", false));
    assert_eq!(screen_pair(&mut c, &mut s, &good), Verdict::Fine);
    assert_eq!(
        screen_pair(&mut c, &mut s, &request(&[0xbe])),
        Verdict::Fine
    );
    assert!(rewritten(&screen_pair(&mut c, &mut s, &request(&[0xc0]))));
}

#[test]
fn a_bad_entry_evicted_by_a_size_update_keeps_the_tables_in_step() {
    let (mut c, mut s) = (Mirror::new(4096), Mirror::new(4096));
    let first = request(&literal(0x40, b"X-Upper", b"one", false));
    assert!(rewritten(&screen_pair(&mut c, &mut s, &first)));
    // A size update to 0 at the start of the next block empties both tables.
    let mut next = vec![0x20];
    next.extend(request(&literal(0x40, b"x-after", b"1", false)));
    assert_eq!(screen_pair(&mut c, &mut s, &next), Verdict::Fine);
    assert!(c.sizes().is_empty());
}

#[test]
fn what_h2_ends_the_connection_for_stays_as_it_is() {
    for block in [
        // Index 0, an index past the table, a size update after a field or above the setting.
        vec![0x80],
        vec![0xbe],
        [request(&[]), vec![0x20]].concat(),
        vec![0x3f, 0xe2, 0x1f],
        // A string longer than the block, an integer of too many bytes, bad Huffman padding.
        vec![0x00, 0x05, b'a'],
        vec![0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        vec![0x00, 0x81, 0xff, 0x01, b'1'],
        // An inserted field with no bytes at all cannot have a stand-in of its size.
        vec![0x40, 0x00, 0x00],
    ] {
        let mut c = Mirror::new(4096);
        assert_eq!(c.decode_fields(&block).0, Verdict::Unknown, "{block:02x?}");
    }
}

// ----- Frames -----

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits the output of the adapter into frames: `(kind, flags, stream, payload)`.
fn frames(mut bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    assert!(bytes.starts_with(PREFACE));
    bytes = &bytes[PREFACE.len()..];
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = frame_len(bytes);
        out.push((
            bytes[3],
            bytes[4],
            stream_id(bytes),
            bytes[9..9 + len].to_vec(),
        ));
        bytes = &bytes[9 + len..];
    }
    out
}

/// Runs `input` through the adapter split in two at many points (every one for small inputs),
/// and in 1-byte reads; the result must not depend on how the bytes arrived.
fn screened(input: &[u8]) -> Vec<u8> {
    let whole = screen_stream([input], HYPER_MAX_HEADER_LIST_SIZE).bytes;
    let step = (input.len() / 500).max(1);
    for cut in (1..input.len()).step_by(step) {
        let split = screen_stream([&input[..cut], &input[cut..]], HYPER_MAX_HEADER_LIST_SIZE).bytes;
        assert!(split == whole, "split at {cut}");
    }
    let bytes = screen_stream(input.chunks(1), HYPER_MAX_HEADER_LIST_SIZE).bytes;
    assert!(bytes == whole, "one byte at a time");
    whole
}

#[test]
fn fine_streams_pass_byte_for_byte() {
    let mut input = PREFACE.to_vec();
    input.extend(frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100]));
    input.extend(frame(HEADERS, END_HEADERS, 1, &request(&[])));
    input.extend(frame(0x0, END_STREAM, 1, b"body bytes"));
    // A block in three frames, padded and with a priority.
    let block = request(&literal(0x40, b"x-long", &[b'v'; 40], true));
    let mut first = vec![4];
    first.extend_from_slice(&[0, 0, 0, 1, 16]);
    first.extend_from_slice(&block[..5]);
    first.extend_from_slice(&[0; 4]);
    input.extend(frame(HEADERS, PADDED | PRIORITY | END_STREAM, 3, &first));
    input.extend(frame(CONTINUATION, 0, 3, &block[5..9]));
    input.extend(frame(CONTINUATION, END_HEADERS, 3, &block[9..]));
    input.extend(frame(0x6, 0, 0, b"pingpong"));
    assert!(screened(&input) == input);
    // Every block was looked at: the guard did not give up on the way.
    assert!(!screen_stream([&input[..]], HYPER_MAX_HEADER_LIST_SIZE).stopped);
}

#[test]
fn a_refused_block_is_rewritten_in_its_own_frame() {
    let mut input = PREFACE.to_vec();
    input.extend(frame(0x4, 0, 0, &[]));
    let bad = request(&literal(0x40, b"X-Upper", b"1", true));
    let mut padded = vec![3];
    padded.extend_from_slice(&[0, 0, 0, 0, 16]);
    padded.extend_from_slice(&bad[..6]);
    padded.extend_from_slice(&[0; 3]);
    input.extend(frame(HEADERS, PADDED | PRIORITY | END_STREAM, 1, &padded));
    input.extend(frame(CONTINUATION, END_HEADERS, 1, &bad[6..]));
    // Static entry 16, `accept-encoding: gzip, deflate`.
    let good = request(&[0x90]);
    input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 3, &good));
    let bytes = screened(&input);
    assert!(!screen_stream([&input[..]], HYPER_MAX_HEADER_LIST_SIZE).stopped);
    // What the guard lets through, screened again, is left as it is (h2 accepts every block).
    let again = screen_stream([&bytes[..]], HYPER_MAX_HEADER_LIST_SIZE);
    assert!(!again.stopped && again.bytes == bytes);
    let out = frames(&bytes);
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0].0, 0x4);
    let (kind, flags, stream, payload) = &out[1];
    assert_eq!(
        (*kind, *flags, *stream),
        (HEADERS, END_HEADERS | END_STREAM, 1)
    );
    assert!(payload.ends_with(MARKER));
    // The following block passes unchanged.
    assert_eq!(out[2], (HEADERS, END_HEADERS | END_STREAM, 3, good));
    // What h2 gets decodes cleanly, with the client's table.
    let (mut c, mut s) = (Mirror::new(4096), Mirror::new(4096));
    assert!(rewritten(&c.decode_fields(&bad).0));
    assert_eq!(s.decode_fields(payload).0, Verdict::Fine);
    assert_eq!(c.sizes(), s.sizes());
}

/// Five fine fields of 3,000 Huffman-coded bytes' worth (1,875 bytes each on the wire).
fn big_fields() -> Vec<u8> {
    let mut extra = Vec::new();
    for i in 0..5 {
        extra.extend(literal(
            0x00,
            format!("x-big-{i}").as_bytes(),
            &[b'e'; 3000],
            true,
        ));
    }
    extra
}

fn one_frame(block: &[u8]) -> Vec<u8> {
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, block));
    input
}

#[test]
fn a_large_refused_block_is_split_with_the_malformed_part_last() {
    // Under 16 KiB as sent; its bad field written raw makes the rewritten block larger.
    let mut extra = big_fields();
    extra.extend(literal(0x00, b"X-Bad", &[b'0'; 10_000], true));
    let block = request(&extra);
    assert!(block.len() <= MAX_FRAME_SIZE);
    let bytes = screened(&one_frame(&block));
    let again = screen_stream([&bytes[..]], HYPER_MAX_HEADER_LIST_SIZE * 8);
    assert!(!again.stopped && again.bytes == bytes);
    let out = frames(&bytes);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!((out[0].0, out[0].1, out[0].2), (HEADERS, END_STREAM, 1));
    assert_eq!(
        (out[1].0, out[1].1, out[1].2),
        (CONTINUATION, END_HEADERS, 1)
    );
    assert!(out.iter().all(|f| f.3.len() <= MAX_FRAME_SIZE));
    let joined: Vec<u8> = out.iter().flat_map(|f| f.3.clone()).collect();
    assert!(joined.ends_with(MARKER));
    assert!(out[1].3.ends_with(MARKER));
    assert_eq!(Mirror::new(4096).decode_fields(&joined).0, Verdict::Fine);
}

#[test]
fn a_refused_block_that_cannot_be_split_safely_passes_unchanged() {
    // An unknown pseudo-header first: its stand-in is a regular field, so h2 finds the request
    // malformed at the `:method` after it, and every frame from there on would have to be the
    // last one, which cannot hold more than 16 KiB.
    let mut extra = big_fields();
    extra.extend(big_fields());
    let mut block = literal(0x00, b":foo", b"0", true);
    block.extend(request(&extra));
    let mut input = PREFACE.to_vec();
    input.extend(frame(HEADERS, END_STREAM, 1, &block[..MAX_FRAME_SIZE]));
    input.extend(frame(
        CONTINUATION,
        END_HEADERS,
        1,
        &block[MAX_FRAME_SIZE..],
    ));
    assert!(screened(&input) == input);
    // The same block with small fields is rewritten.
    let mut small = literal(0x00, b":foo", b"0", true);
    small.extend(request(&big_fields()));
    let out = frames(&screened(&one_frame(&small)));
    assert_eq!(out.len(), 1);
    assert!(out[0].3.ends_with(MARKER));
}

#[test]
fn what_the_adapter_cannot_follow_passes_unchanged() {
    let bad = request(&literal(0x00, b"X-Upper", b"1", false));
    let mut cases = Vec::new();
    // A preface that is not HTTP/2's.
    cases.push(
        [
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            frame(HEADERS, END_HEADERS, 1, &bad),
        ]
        .concat(),
    );
    // A frame larger than the server's maximum before the bad block.
    let mut big = PREFACE.to_vec();
    big.extend(frame(0x0, 0, 1, &vec![0; MAX_FRAME_SIZE + 1]));
    big.extend(frame(HEADERS, END_HEADERS, 3, &bad));
    cases.push(big);
    // A CONTINUATION of another stream.
    let mut other = PREFACE.to_vec();
    other.extend(frame(HEADERS, 0, 1, &bad[..4]));
    other.extend(frame(CONTINUATION, END_HEADERS, 3, &bad[4..]));
    cases.push(other);
    // A stream that ends inside a block.
    let mut cut = PREFACE.to_vec();
    cut.extend(frame(HEADERS, END_HEADERS, 1, &bad));
    cut.truncate(cut.len() - 2);
    cases.push(cut);
    for input in cases {
        assert!(screened(&input) == input);
    }
}

#[test]
fn a_block_larger_than_the_adapter_holds_passes_unchanged() {
    let mut input = PREFACE.to_vec();
    let block = request(&literal(0x00, b"X-Upper", &[b'v'; 40_000], false));
    let mut chunks = block.chunks(MAX_FRAME_SIZE).peekable();
    let mut first = true;
    while let Some(chunk) = chunks.next() {
        let kind = if first { HEADERS } else { CONTINUATION };
        let flags = if chunks.peek().is_none() {
            END_HEADERS
        } else {
            0
        };
        input.extend(frame(kind, flags, 1, chunk));
        first = false;
    }
    let out = screen_stream(input.chunks(1000), HYPER_MAX_HEADER_LIST_SIZE).bytes;
    assert!(out == input);
}

#[tokio::test]
async fn the_adapter_reads_through_a_stream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client, server) = tokio::io::duplex(64);
    let mut input = PREFACE.to_vec();
    input.extend(frame(
        HEADERS,
        END_HEADERS,
        1,
        &request(&literal(0x00, b":foo", b"1", true)),
    ));
    input.extend(frame(0x0, END_STREAM, 3, &[7; 300]));
    let expected = screen_stream([&input[..]], HYPER_MAX_HEADER_LIST_SIZE).bytes;
    assert_ne!(expected, input);
    let writer = tokio::spawn(async move {
        client.write_all(&input).await.unwrap();
        client.shutdown().await.unwrap();
        client
    });
    let mut guard = H2Guard::new(server, HYPER_MAX_HEADER_LIST_SIZE);
    let mut got = Vec::new();
    let mut small = [0u8; 7];
    loop {
        let n = guard.read(&mut small).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&small[..n]);
    }
    assert_eq!(got, expected);
    drop(writer.await.unwrap());
}
