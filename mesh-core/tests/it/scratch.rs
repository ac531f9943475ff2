use mesh_core::AvroSchema;
#[test]
fn scratch() {
    let cases = [
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"array","items":"null","order":false},"default":1}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"array","items":"null","order":false},"default":[]}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"array","items":"int","x":false},"default":1}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":4,"precision":1.5},"default":1}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"fixed","name":"F","size":4,"scale":"x"},"default":1}]}"#,
        r#"{"type":"record","name":"R","fields":[{"name":"f","type":{"type":"map","values":"int","size":1.5},"default":1}]}"#,
    ];
    for c in cases {
        let r = std::panic::catch_unwind(|| {
            AvroSchema::parse(c, "x")
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        eprintln!("{c}\n  => {:?}", r.map_err(|_| "PANIC"));
    }
}
