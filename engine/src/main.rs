//! The `sluice` binary: see `sluice_engine::cli`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sluice_engine::cli::main()
}
