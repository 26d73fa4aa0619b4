//! The two images the suite needs, built locally (there is no registry): an OCI image layout of
//! Debian's static busybox, imported into containerd's "k8s.io" namespace with `ctr images import`
//! (what `ctr`'s Go code does is not worth redoing over containerd's content API).
//!   BUSYBOX: busybox, entrypoint none, cmd ["sh"].
//!   PAUSE:   the same layer, entrypoint a shell that sleeps until TERM (then exits 0): the
//!            sandbox image (`sandbox_image` in containerd's CRI config).

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

pub const BUSYBOX: &str = "localhost/berth-cri/busybox:1";
pub const PAUSE: &str = "localhost/berth-cri/pause:1";

/// The pause process: PID 1 of the sandbox; exits 0 on TERM (and takes its sleep along).
pub const PAUSE_SCRIPT: &str =
    "trap 'kill $! 2>/dev/null; exit 0' TERM; while :; do sleep 2147483647 & wait $!; done";

fn sha256(data: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(data);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The one layer: /bin/busybox, a symlink per applet, /etc/passwd and /etc/group, empty dirs.
fn layer() -> Result<Vec<u8>> {
    let busybox =
        std::fs::read("/bin/busybox").context("/bin/busybox (apt-get install busybox-static)")?;
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .context("busybox --list")?;
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        b.append_data(&mut h, name, &[][..])?;
        Ok(())
    };
    for (d, m) in [
        ("bin", 0o755),
        ("etc", 0o755),
        ("proc", 0o755),
        ("sys", 0o755),
        ("dev", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("var", 0o755),
    ] {
        dir(&mut b, d, m)?;
    }
    let file = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, name, data)?;
        Ok(())
    };
    file(&mut b, "bin/busybox", 0o755, &busybox)?;
    file(
        &mut b,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    file(&mut b, "etc/group", 0o644, b"root:x:0:\nnobody:x:65534:\n")?;
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")?;
    }
    Ok(b.into_inner()?)
}

/// An OCI image layout (as a tar archive) holding one image named `name` with the given layer.
fn layout(
    name: &str,
    layer: &[u8],
    layer_digest: &str,
    entrypoint: &[&str],
    cmd: &[&str],
) -> Result<Vec<u8>> {
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": if entrypoint.is_empty() { serde_json::Value::Null } else { serde_json::json!(entrypoint) },
            "Cmd": cmd,
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_digest}")]},
    });
    let config = serde_json::to_vec(&config)?;
    let config_digest = sha256(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{config_digest}"), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{layer_digest}"), "size": layer.len()}],
    }))?;
    let manifest_digest = sha256(&manifest);
    let tag = name.rsplit(':').next().unwrap_or("latest");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"), "size": manifest.len(),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
        }],
    }))?;
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: String, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        b.append_data(&mut h, path, data)?;
        Ok(())
    };
    add("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add("index.json".into(), &index)?;
    add(format!("blobs/sha256/{layer_digest}"), layer)?;
    add(format!("blobs/sha256/{config_digest}"), &config)?;
    add(format!("blobs/sha256/{manifest_digest}"), &manifest)?;
    Ok(b.into_inner()?)
}

/// Builds both images under `dir` and imports them into containerd (namespace k8s.io, unpacked
/// for the default snapshotter, as CRI needs them).
pub fn import(sock: &Path, dir: &Path) -> Result<()> {
    let layer = layer()?;
    let digest = sha256(&layer);
    let pause_cmd = ["/bin/sh", "-c", PAUSE_SCRIPT];
    for (name, ep, cmd, file) in [
        (BUSYBOX, &[][..], &["sh"][..], "busybox.tar"),
        (PAUSE, &pause_cmd[..], &[][..], "pause.tar"),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, layout(name, &layer, &digest, ep, cmd)?)?;
        let out = Command::new("ctr")
            .arg("--address")
            .arg(sock)
            .args(["-n", "k8s.io", "images", "import"])
            .arg(&path)
            .output()
            .context("ctr images import")?;
        if !out.status.success() {
            bail!(
                "ctr images import {name}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}
