//! Prints the protocol test vectors in the form docs/PROTOCOL.md publishes them.

fn main() {
    for (name, value) in csx_protocol::vectors::vectors() {
        let mut chunks = value.as_bytes().chunks(96);
        println!("{name}: {}", std::str::from_utf8(chunks.next().unwrap_or_default()).unwrap_or_default());
        for c in chunks {
            println!("  {}", std::str::from_utf8(c).unwrap_or_default());
        }
    }
}
