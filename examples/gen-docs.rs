//! PENDING: this file belongs at `examples/gen-docs.rs`; it waits here until
//! Cargo.toml has the dev-dependencies `clap_mangen = "0.3"` and
//! `clap_complete = "4"` (an example without them would break `cargo test`).
//!
//! Writes the man pages and shell completions that the packages ship:
//!
//! ```text
//! cargo run --release --example gen-docs -- OUT_DIR
//! OUT_DIR/man/{minimost.8, minimostctl.8, minimost.toml.5}
//! OUT_DIR/completions/{minimost,minimostctl}.{bash,fish} and _minimost, _minimostctl (zsh)
//! ```
//!
//! Everything comes from the clap definitions and the settings reference in
//! the library, so the pages cannot drift from the programs they describe.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use minimost::cli::{CtlArgs, DaemonArgs};
use minimost::system::config::reference::man_page;

fn main() {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: gen-docs OUT_DIR");
        std::process::exit(2);
    };
    if let Err(e) = generate(&out) {
        eprintln!("gen-docs: writing into {}: {e}", out.display());
        std::process::exit(1);
    }
}

fn generate(out: &Path) -> io::Result<()> {
    let man = out.join("man");
    let completions = out.join("completions");
    fs::create_dir_all(&man)?;
    fs::create_dir_all(&completions)?;

    for (name, mut cmd) in [
        ("minimost", DaemonArgs::command()),
        ("minimostctl", CtlArgs::command()),
    ] {
        // Both are administrator commands, hence section 8.
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .section("8")
            .render(&mut page)?;
        fs::write(man.join(format!("{name}.8")), page)?;

        for (shell, file) in [
            (Shell::Bash, format!("{name}.bash")),
            (Shell::Zsh, format!("_{name}")),
            (Shell::Fish, format!("{name}.fish")),
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, name, &mut script);
            fs::write(completions.join(file), script)?;
        }
    }

    fs::write(
        man.join("minimost.toml.5"),
        man_page(env!("CARGO_PKG_VERSION")),
    )?;
    Ok(())
}
