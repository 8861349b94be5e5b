//! This machine's platform in OCI's words.

/// This machine's architecture in OCI's words.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

pub fn default_platform() -> String {
    format!("linux/{}", host_architecture())
}
