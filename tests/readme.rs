//! The README's CI jobs, tested as written: every `covenant` command in the GitHub Actions and
//! GitLab CI blocks runs against a real registry in a real git repository, passing on a
//! compatible change and failing (exit 1, with annotations or a JUnit failure) on a breaking one.

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;

/// The `covenant ...` command lines of the YAML block after `<!-- ci: NAME -->`.
fn commands(readme: &str, name: &str) -> Vec<String> {
    let marker = format!("<!-- ci: {name} -->");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README has no {marker}"));
    let block = &readme[start..];
    let block = &block[block.find("```yaml").expect("a yaml block") + 7..];
    let block = &block[..block.find("```").expect("the block ends")];
    block
        .lines()
        .map(|line| {
            line.trim()
                .trim_start_matches("- ")
                .trim_start_matches("run:")
                .trim()
        })
        .filter(|line| line.starts_with("covenant "))
        .map(str::to_string)
        .collect()
}

fn sh(dir: &Path, registry: &str, command: &str) -> (i32, String) {
    let bin_dir = common::binary().parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("COVENANT_REGISTRY", registry)
        .output()
        .expect("sh runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "ci")
        .env("GIT_AUTHOR_EMAIL", "ci@example.com")
        .env("GIT_COMMITTER_NAME", "ci")
        .env("GIT_COMMITTER_EMAIL", "ci@example.com")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[test]
fn the_readme_ci_jobs_pass_compatible_changes_and_fail_breaking_ones() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README");
    let github = commands(&readme, "github-actions");
    let gitlab = commands(&readme, "gitlab");
    assert_eq!(github.len(), 2, "{github:?}");
    assert_eq!(gitlab.len(), 1, "{gitlab:?}");

    let server = Server::start();
    let dir = tempfile::tempdir().expect("dir");
    let schemas = dir.path().join("schemas");
    std::fs::create_dir_all(&schemas).expect("dir");
    let v1 = "{\n  \"type\": \"record\",\n  \"name\": \"User\",\n  \"fields\": [\n    {\"name\": \"id\", \"type\": \"long\"}\n  ]\n}\n";
    std::fs::write(schemas.join("user.avsc"), v1).expect("write");
    std::fs::write(
        dir.path().join("covenant.toml"),
        "[[schema]]\nfile = \"schemas/user.avsc\"\nsubject = \"users-value\"\n",
    )
    .expect("write");
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-qm", "schemas"]);
    git(
        dir.path(),
        &["update-ref", "refs/remotes/origin/main", "HEAD"],
    );
    let (code, _) = sh(
        dir.path(),
        &server.url,
        "covenant register --subject users-value schemas/user.avsc",
    );
    assert_eq!(code, 0);

    // A compatible change passes every job.
    let compatible = v1.replace(
        "\"long\"}",
        "\"long\"},\n    {\"name\": \"email\", \"type\": \"string\", \"default\": \"\"}",
    );
    std::fs::write(schemas.join("user.avsc"), &compatible).expect("write");
    for command in github.iter().chain(&gitlab) {
        let (code, output) = sh(dir.path(), &server.url, command);
        assert_eq!(code, 0, "{command}: {output}");
    }

    // A breaking change fails every job, pointing at the line.
    let breaking = v1.replace(
        "\"long\"}",
        "\"long\"},\n    {\"name\": \"email\", \"type\": \"string\"}",
    );
    std::fs::write(schemas.join("user.avsc"), &breaking).expect("write");
    for command in &github {
        let (code, output) = sh(dir.path(), &server.url, command);
        assert_eq!(code, 1, "{command}: {output}");
        assert!(
            output.contains("::error file=schemas/user.avsc,line=6,"),
            "{command}: {output}"
        );
    }
    let (code, _) = sh(dir.path(), &server.url, &gitlab[0]);
    assert_eq!(code, 1);
    let report =
        std::fs::read_to_string(dir.path().join("covenant-report.xml")).expect("junit report");
    assert!(
        report.contains("<failure type=\"incompatible\""),
        "{report}"
    );
}
