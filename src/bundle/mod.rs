//! Encrypted, authenticated configuration bundles: the file format over
//! `Read` and `Write`. [`header`] holds the passphrase-based key schedule,
//! [`stream`] the chunked payload encryption, [`blocks`] the compression of
//! the archive in independent blocks and [`archive`] the tar archive inside;
//! only the extraction into a staging directory opens files.

pub mod archive;
pub mod blocks;
pub mod header;
pub mod manifest;
pub mod stream;
