//! `cargo run -p azir-demo --example demo -- <dir> [seed] [days] [scale]`: writes the demo evidence tree.

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "azir-demo-evidence".to_string());
    let mut opts = azir_demo::DemoOptions::default();
    if let Some(s) = args.next() {
        opts.seed = s.parse().expect("seed is a number");
    }
    if let Some(d) = args.next() {
        opts.days = d.parse().expect("days is a number");
    }
    if let Some(s) = args.next() {
        opts.scale = s.parse().expect("scale is a number");
    }
    let start = std::time::Instant::now();
    let summary = azir_demo::generate(std::path::Path::new(&dir), &opts)?;
    println!(
        "{} files, {} records, {} flow tuples, {} bytes in {:?}",
        summary.files.len(),
        summary.records,
        summary.flow_tuples,
        summary.bytes,
        start.elapsed()
    );
    for (source, n) in &summary.per_source {
        println!("{source:>20} {n}");
    }
    Ok(())
}
