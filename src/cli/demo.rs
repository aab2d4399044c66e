//! `tacctl demo`: the JWT life cycle of one appliance, told step by step.
use std::io::Write;
use anyhow::Result;
pub fn run(out: &mut impl Write) -> Result<()> { writeln!(out, "demo")?; Ok(()) }
