pub fn run(_m: &std::path::Path, _a: BenchArgs) -> crate::Result<()> {
    Ok(())
}
#[derive(clap::Args)]
pub struct BenchArgs {}
