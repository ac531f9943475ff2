//! The main job (work in progress).

fn main() {}
