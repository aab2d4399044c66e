//! Encrypted, authenticated configuration bundles: the file format over
//! `Read` and `Write`. [`header`] holds the passphrase-based key schedule and
//! [`stream`] the chunked payload encryption; neither opens a file.

pub mod archive;
pub mod header;
pub mod manifest;
pub mod stream;
