//! CRI (runtime.v1) client helpers: the calls in the order and shape the kubelet makes them, for
//! host-network pods (containerd 1.6 runs those without CNI), and the leftover check after a pod.

use anyhow::{anyhow, bail, ensure, Context, Result};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::containerd::Containerd;
use crate::{check, images, Driver};

pub struct Cri<'a> {
    pub rt: RuntimeServiceClient<Channel>,
    pub img: ImageServiceClient<Channel>,
    pub cd: &'a Containerd,
    pub driver: Driver,
    pub handler: &'static str,
    /// Pods made and not yet removed (removed after a failing scenario).
    pub pods: Vec<Pod>,
}

#[derive(Clone)]
pub struct Pod {
    pub id: String,
    #[allow(dead_code)]
    pub uid: String,
    pub config: PodSandboxConfig,
    /// Unique digits every process of the pod has in its command line (`sleep MARKER...`).
    pub marker: String,
    /// The pod's cgroup relative to a hierarchy's root (cgroupfs), or its slice's path (systemd).
    pub cgroup: String,
    pub slice: Option<String>,
    pub containers: Vec<String>,
    pub pause: Option<(i32, Option<u64>)>,
}

#[derive(Default, Clone)]
pub struct PodOpts {
    pub host_pid: bool,
    pub share_pid: bool,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

pub async fn connect(sock: &Path) -> Result<Channel> {
    let path = sock.to_path_buf();
    let ch = Endpoint::try_from("http://[::]:50051")?
        .timeout(Duration::from_secs(60))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }))
        .await?;
    Ok(ch)
}

pub fn err(s: tonic::Status) -> anyhow::Error {
    anyhow!("CRI {:?}: {}", s.code(), s.message())
}

pub fn sh(script: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), script.into()]
}

impl<'a> Cri<'a> {
    pub async fn new(cd: &'a Containerd, driver: Driver, handler: &'static str) -> Result<Cri<'a>> {
        let ch = connect(&cd.sock).await?;
        Ok(Cri {
            rt: RuntimeServiceClient::new(ch.clone()),
            img: ImageServiceClient::new(ch),
            cd,
            driver,
            handler,
            pods: Vec::new(),
        })
    }

    /// The kubelet's IfNotPresent: ImageStatus, and PullImage only when absent (here: a failure,
    /// there is no registry).
    pub async fn ensure_image(&mut self, image: &str) -> Result<()> {
        let r = self
            .img
            .image_status(ImageStatusRequest {
                image: Some(ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                verbose: false,
            })
            .await
            .map_err(err)?
            .into_inner();
        ensure!(
            r.image.is_some(),
            "image {image} is not present (PullImage would be needed; there is no registry)"
        );
        Ok(())
    }

    pub async fn run_pod(&mut self, name: &str, opts: PodOpts) -> Result<Pod> {
        let n = SEQ.fetch_add(1, Ordering::SeqCst) + 1;
        let stamp = std::process::id() % 10000;
        let uid = format!("b3c{stamp:04}{n:04}");
        let marker = format!("{}{n:04}", self.driver.marker_prefix());
        let (cgroup_parent, cgroup, slice) = match self.driver {
            Driver::Cgroupfs => {
                let p = format!("/kubepods/besteffort/pod{uid}");
                (p.clone(), p, None)
            }
            Driver::Systemd => {
                let s = format!("kubepods-besteffort-pod{uid}.slice");
                (
                    s.clone(),
                    format!("kubepods.slice/kubepods-besteffort.slice/{s}"),
                    Some(s),
                )
            }
        };
        let ns = NamespaceOption {
            network: NamespaceMode::Node as i32,
            pid: if opts.host_pid {
                NamespaceMode::Node
            } else if opts.share_pid {
                NamespaceMode::Pod
            } else {
                NamespaceMode::Container
            } as i32,
            ipc: NamespaceMode::Pod as i32,
            ..Default::default()
        };
        let logdir = self.cd.dir.join("logs").join(&uid);
        std::fs::create_dir_all(&logdir)?;
        let config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: uid.clone(),
                namespace: "berth-cri".into(),
                attempt: 0,
            }),
            // A host-network pod must not set a hostname (containerd refuses it).
            hostname: String::new(),
            log_directory: logdir.display().to_string(),
            labels: HashMap::from([("io.kubernetes.pod.name".into(), name.into())]),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent,
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(ns),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.ensure_image(images::PAUSE).await?;
        // Registered first: a failed RunPodSandbox may have left the cgroup / slice.
        crate::register_pod(&cgroup, slice.as_deref());
        let id = self
            .rt
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: self.handler.into(),
            })
            .await
            .map_err(err)?
            .into_inner()
            .pod_sandbox_id;
        let mut pod = Pod {
            id,
            uid,
            config,
            marker,
            cgroup,
            slice,
            containers: Vec::new(),
            pause: None,
        };
        self.pods.push(pod.clone());
        let pid = self.sandbox_pid(&pod.id).await?;
        pod.pause = Some((pid, check::start_time(pid)));
        self.pods.last_mut().unwrap().pause = pod.pause;
        Ok(pod)
    }

    pub async fn sandbox_pid(&mut self, id: &str) -> Result<i32> {
        let r = self
            .rt
            .pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose: true,
            })
            .await
            .map_err(err)?
            .into_inner();
        info_pid(&r.info)
    }

    pub fn container_config(
        &self,
        pod: &Pod,
        name: &str,
        attempt: u32,
        command: Vec<String>,
        resources: Option<LinuxContainerResources>,
    ) -> ContainerConfig {
        ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.into(),
                attempt,
            }),
            image: Some(ImageSpec {
                image: images::BUSYBOX.into(),
                ..Default::default()
            }),
            command,
            log_path: format!("{name}/{attempt}.log"),
            labels: HashMap::from([("io.kubernetes.container.name".into(), name.into())]),
            linux: Some(LinuxContainerConfig {
                resources,
                security_context: Some(LinuxContainerSecurityContext {
                    namespace_options: pod
                        .config
                        .linux
                        .as_ref()
                        .and_then(|l| l.security_context.as_ref())
                        .and_then(|s| s.namespace_options.clone()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }

    pub async fn create(&mut self, pod: &mut Pod, config: ContainerConfig) -> Result<String> {
        self.ensure_image(images::BUSYBOX).await?;
        let id = self
            .rt
            .create_container(CreateContainerRequest {
                pod_sandbox_id: pod.id.clone(),
                config: Some(config),
                sandbox_config: Some(pod.config.clone()),
            })
            .await
            .map_err(err)?
            .into_inner()
            .container_id;
        pod.containers.push(id.clone());
        if let Some(p) = self.pods.iter_mut().find(|p| p.id == pod.id) {
            p.containers.push(id.clone());
        }
        Ok(id)
    }

    pub async fn start(&mut self, id: &str) -> Result<()> {
        self.rt
            .start_container(StartContainerRequest {
                container_id: id.into(),
            })
            .await
            .map_err(err)?;
        Ok(())
    }

    pub async fn create_start(
        &mut self,
        pod: &mut Pod,
        name: &str,
        command: Vec<String>,
        resources: Option<LinuxContainerResources>,
    ) -> Result<String> {
        let cfg = self.container_config(pod, name, 0, command, resources);
        let id = self.create(pod, cfg).await?;
        self.start(&id).await?;
        Ok(id)
    }

    /// (status, pid from the verbose info; 0 when not running).
    pub async fn status(&mut self, id: &str) -> Result<(ContainerStatus, i32)> {
        let r = self
            .rt
            .container_status(ContainerStatusRequest {
                container_id: id.into(),
                verbose: true,
            })
            .await
            .map_err(err)?
            .into_inner();
        let pid = info_pid(&r.info).unwrap_or(0);
        Ok((r.status.context("no status")?, pid))
    }

    pub async fn wait_exited(&mut self, id: &str, within: Duration) -> Result<ContainerStatus> {
        let t0 = Instant::now();
        loop {
            let (st, _) = self.status(id).await?;
            if st.state == ContainerState::ContainerExited as i32 {
                return Ok(st);
            }
            if t0.elapsed() > within {
                bail!(
                    "container {id} not exited after {within:?}: state {}",
                    st.state
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn exec(
        &mut self,
        id: &str,
        cmd: Vec<String>,
        timeout: i64,
    ) -> std::result::Result<ExecSyncResponse, tonic::Status> {
        self.rt
            .exec_sync(ExecSyncRequest {
                container_id: id.into(),
                cmd,
                timeout,
            })
            .await
            .map(|r| r.into_inner())
    }

    pub async fn stop_container(&mut self, id: &str, timeout: i64) -> Result<()> {
        self.rt
            .stop_container(StopContainerRequest {
                container_id: id.into(),
                timeout,
            })
            .await
            .map_err(err)?;
        Ok(())
    }

    pub async fn remove_container(&mut self, id: &str) -> Result<()> {
        self.rt
            .remove_container(RemoveContainerRequest {
                container_id: id.into(),
            })
            .await
            .map_err(err)?;
        Ok(())
    }

    pub async fn stop_pod(&mut self, pod: &Pod) -> Result<()> {
        self.rt
            .stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            })
            .await
            .map_err(err)?;
        Ok(())
    }

    /// StopPodSandbox, RemovePodSandbox, then what the kubelet does itself: remove the pod's
    /// cgroup (cgroupfs) or stop its slice (systemd). Forgets the pod.
    pub async fn remove_pod(&mut self, pod: &Pod) -> Result<()> {
        self.stop_pod(pod).await?;
        self.rt
            .remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            })
            .await
            .map_err(err)?;
        self.pods.retain(|p| p.id != pod.id);
        Ok(())
    }

    /// Nothing of the pod remains: every check, at once for berth (synchronous teardown), with a
    /// grace of `grace` for runc. Then removes the pod's cgroup / slice (the kubelet's job).
    pub async fn assert_gone(&mut self, pod: &Pod, grace: Duration) -> Result<()> {
        let t0 = Instant::now();
        let mut first: Option<Vec<String>> = None;
        let res = loop {
            let left = self.leftovers(pod).await;
            if left.is_empty() {
                break Ok(());
            }
            first.get_or_insert_with(|| left.clone());
            if t0.elapsed() >= grace {
                break Err(anyhow!(
                    "left of pod {} ({}) after removal{}:\n  {}",
                    pod.id,
                    pod.marker,
                    if grace.is_zero() { "" } else { " and a grace" },
                    left.join("\n  ")
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if res.is_ok() && first.is_some() {
            println!(
                "# {}: pod {} needed {:?} after removal to be gone; at first: {}",
                self.handler,
                pod.marker,
                t0.elapsed(),
                first.unwrap_or_default().join("; ")
            );
        }
        self.remove_pod_cgroup(pod);
        res
    }

    pub fn remove_pod_cgroup(&self, pod: &Pod) {
        crate::remove_pod_cgroup(&pod.cgroup, pod.slice.as_deref());
    }

    pub async fn leftovers(&mut self, pod: &Pod) -> Vec<String> {
        let mut left = Vec::new();
        for (pid, st, cmd) in check::live_with(&pod.marker) {
            left.push(format!("process {pid} ({st}): {cmd}"));
        }
        if let Some((pid, start)) = pod.pause {
            if check::alive(pid, start) {
                left.push(format!("pause process {pid}"));
            }
        }
        for d in check::cgroup_subdirs(&pod.cgroup) {
            left.push(format!("cgroup {}", d.display()));
        }
        let mut ids = vec![pod.id.clone()];
        ids.extend(pod.containers.iter().cloned());
        for id in &ids {
            for m in check::mounts_with(id) {
                left.push(format!("mount {m}"));
            }
            for h in &self.cd.handlers {
                let p: PathBuf = h.root.join(id);
                if p.exists() {
                    left.push(format!("runtime state {}", p.display()));
                }
            }
            if self.driver == Driver::Systemd {
                for u in check::units_with(&format!("cri-containerd-{id}")) {
                    left.push(format!("unit {u}"));
                }
            }
        }
        for shim in check::pids_matching(&[
            "containerd-shim-runc-v2",
            &format!("-id {}", pod.id),
            &self.cd.sock.to_string_lossy(),
        ]) {
            left.push(format!("shim {shim}"));
        }
        for what in [&["containers", "ls", "-q"][..], &["tasks", "ls", "-q"][..]] {
            match self.cd.ctr(what) {
                Ok(out) => {
                    for l in out
                        .lines()
                        .filter(|l| ids.iter().any(|id| l.contains(id.as_str())))
                    {
                        left.push(format!("containerd {} {l}", what[0]));
                    }
                }
                Err(e) => left.push(format!("ctr: {e}")),
            }
        }
        match self
            .rt
            .list_pod_sandbox(ListPodSandboxRequest { filter: None })
            .await
        {
            Ok(r) => {
                if r.into_inner().items.iter().any(|s| s.id == pod.id) {
                    left.push("CRI still lists the sandbox".into());
                }
            }
            Err(e) => left.push(format!("ListPodSandbox: {e}")),
        }
        left
    }

    /// After a failure: remove what the scenario left (best effort).
    pub async fn cleanup(&mut self) {
        for pod in std::mem::take(&mut self.pods) {
            let _ = self
                .rt
                .stop_pod_sandbox(StopPodSandboxRequest {
                    pod_sandbox_id: pod.id.clone(),
                })
                .await;
            let _ = self
                .rt
                .remove_pod_sandbox(RemovePodSandboxRequest {
                    pod_sandbox_id: pod.id.clone(),
                })
                .await;
            self.remove_pod_cgroup(&pod);
        }
    }
}

/// The "pid" of a verbose status's info["info"] JSON.
pub fn info_pid(info: &HashMap<String, String>) -> Result<i32> {
    let s = info.get("info").context("no verbose info")?;
    let v: serde_json::Value = serde_json::from_str(s)?;
    Ok(v.get("pid")
        .and_then(|p| p.as_i64())
        .context("no pid in verbose info")? as i32)
}

/// /proc/PID/ns/NAME's link.
pub fn ns(pid: i32, name: &str) -> Result<String> {
    Ok(std::fs::read_link(format!("/proc/{pid}/ns/{name}"))
        .with_context(|| format!("ns {name} of {pid}"))?
        .display()
        .to_string())
}
