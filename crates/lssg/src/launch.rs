//! Data-parallel launch (docs/distributed.md §3): which rank this process is, from `lssg run
//! --nproc N`'s own children, torchrun's variables or Slurm's, and joining the Gloo group.
//!
//! Variables read, first match wins:
//!
//! | launcher | rank | world size | local rank | rendezvous host |
//! |---|---|---|---|---|
//! | `lssg run --nproc N`, torchrun | `RANK` | `WORLD_SIZE` | `LOCAL_RANK` | `MASTER_ADDR` (default `127.0.0.1`) |
//! | `srun` | `SLURM_PROCID` | `SLURM_NTASKS` | `SLURM_LOCALID` | `MASTER_ADDR`, else the first host of `SLURM_JOB_NODELIST` / `SLURM_NODELIST` |
//!
//! The port is `MASTER_PORT` (default 29500), the interface `GLOO_SOCKET_IFNAME` (default: this
//! host's address), the timeout of every rendezvous and collective `LSSG_DIST_TIMEOUT` seconds
//! (default 300). A world of one is the plain single-process run.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use lssg_torch::distributed::{self, GroupConfig, ProcessGroup};

use crate::error::{Error, Result};

/// Who started the ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launcher {
    /// `lssg run --nproc N` or torchrun (the same variables).
    Torchrun,
    /// Slurm's `srun`.
    Slurm,
}

/// This process's place in a data-parallel run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankEnv {
    /// What set the variables.
    pub launcher: Launcher,
    /// This process's rank.
    pub rank: usize,
    /// Processes in the run.
    pub world_size: usize,
    /// Its rank among the processes of its node.
    pub local_rank: usize,
    /// Where rank 0 serves the rendezvous, and what else joining needs.
    pub group: GroupConfig,
}

/// The default rendezvous port (torchrun's).
pub const DEFAULT_PORT: u16 = 29500;
/// The default timeout of a rendezvous or collective, seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 300;

impl RankEnv {
    /// The rank described by `var` (the process environment in [`Self::from_env`]); `None` when
    /// no launcher variables are set or the world has one process.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let number = |name: &str| -> Result<Option<usize>> {
            var(name)
                .map(|v| v.trim().parse::<usize>().map_err(|_| Error::Launch(format!("{name}={v:?} is not a number"))))
                .transpose()
        };
        let (launcher, rank, world_size, local_rank) =
            if let (Some(r), Some(w)) = (number("RANK")?, number("WORLD_SIZE")?) {
                (Launcher::Torchrun, r, w, number("LOCAL_RANK")?.unwrap_or(r))
            } else if let (Some(r), Some(w)) = (number("SLURM_PROCID")?, number("SLURM_NTASKS")?) {
                (Launcher::Slurm, r, w, number("SLURM_LOCALID")?.unwrap_or(0))
            } else {
                return Ok(None);
            };
        if world_size < 2 {
            return Ok(None);
        }
        if rank >= world_size {
            return Err(Error::Launch(format!("rank {rank} is not below the world size {world_size}")));
        }
        let master_addr = match (var("MASTER_ADDR"), launcher) {
            (Some(addr), _) => addr,
            (None, Launcher::Slurm) => {
                let list = var("SLURM_JOB_NODELIST").or_else(|| var("SLURM_NODELIST")).ok_or_else(|| {
                    Error::Launch("Slurm sets neither SLURM_JOB_NODELIST nor SLURM_NODELIST; set MASTER_ADDR".into())
                })?;
                first_host(&list).ok_or_else(|| Error::Launch(format!("no host in the node list {list:?}")))?
            }
            (None, Launcher::Torchrun) => "127.0.0.1".into(),
        };
        let master_port = match var("MASTER_PORT") {
            Some(p) => p.trim().parse().map_err(|_| Error::Launch(format!("MASTER_PORT={p:?} is not a port")))?,
            None => DEFAULT_PORT,
        };
        let timeout = Duration::from_secs(number("LSSG_DIST_TIMEOUT")?.map_or(DEFAULT_TIMEOUT_S, |s| s as u64));
        let interface = var("GLOO_SOCKET_IFNAME").filter(|s| !s.is_empty());
        let group = GroupConfig { master_addr, master_port, rank, world_size, timeout, interface };
        Ok(Some(Self { launcher, rank, world_size, local_rank, group }))
    }

    /// The rank of this process's environment.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The run log's first line: world size, rank, backend and launcher.
    pub fn log_line(&self) -> String {
        let launcher = match self.launcher {
            Launcher::Torchrun => "torchrun variables",
            Launcher::Slurm => "Slurm",
        };
        format!(
            "data-parallel: world size {}, rank {} (local rank {}), backend gloo (libtorch c10d) at {}:{}, launched by {launcher}",
            self.world_size, self.rank, self.local_rank, self.group.master_addr, self.group.master_port
        )
    }

    /// Joins the group and installs it for this thread; every rank but 0 stops writing files.
    pub fn join(&self) -> Result<()> {
        let group = ProcessGroup::new(&self.group).map_err(|e| Error::Launch(e.to_string()))?;
        distributed::install(group);
        lssg_scenario::io::set_writes(self.rank == 0);
        Ok(())
    }
}

/// The first host of a Slurm node list: `node[03-05,9],gpu1` → `node03`.
pub fn first_host(list: &str) -> Option<String> {
    let list = list.trim();
    let first = match list.find('[') {
        Some(open) if list.find(',').is_none_or(|comma| comma > open) => {
            let (prefix, rest) = list.split_at(open);
            let inner = &rest[1..rest.find(']')?];
            let first = inner.split([',', '-']).next()?;
            format!("{prefix}{first}")
        }
        _ => list.split(',').next()?.to_string(),
    };
    (!first.is_empty()).then_some(first)
}

/// A free TCP port on the loopback interface for a local run's rendezvous.
fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| Error::Launch(format!("no free port: {e}")))?;
    Ok(listener.local_addr().map_err(|e| Error::Launch(e.to_string()))?.port())
}

/// libtorch threads of each of `nproc` local ranks: the cores divided between them.
pub fn threads_per_rank(nproc: usize) -> usize {
    crate::bench::jobs::threads_per_job(nproc)
}

/// Runs `exe args` as `nproc` local ranks (torchrun's variables, a free port on 127.0.0.1),
/// rank 0 with `args`, the others with `quiet_args`; waits for all and fails naming every rank
/// that failed.
pub fn spawn_local(exe: &Path, args: &[String], quiet_args: &[String], nproc: usize) -> Result<()> {
    let port = free_port()?.to_string();
    let mut children: Vec<(usize, Child)> = Vec::with_capacity(nproc);
    for rank in 0..nproc {
        let args = if rank == 0 { args } else { quiet_args };
        let child = Command::new(exe)
            .args(args)
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", &port)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", rank.to_string())
            .env("WORLD_SIZE", nproc.to_string())
            .spawn()
            .map_err(|e| Error::Launch(format!("cannot start rank {rank} ({}): {e}", exe.display())))?;
        children.push((rank, child));
    }
    let failed = wait_all(children);
    match failed.is_empty() {
        true => Ok(()),
        false => Err(Error::Launch(format!("{} of {nproc} ranks failed: {}", failed.len(), failed.join(", ")))),
    }
}

/// How long the other ranks get to stop on their own (with their own error) after one failed,
/// before the launcher ends them.
const GRACE: Duration = Duration::from_secs(10);

/// Waits for every child; once one fails, the others that have not stopped within [`GRACE`] are
/// killed (a rank that failed before joining would leave them waiting for the whole timeout).
/// Returns the failures, naming the rank.
fn wait_all(mut children: Vec<(usize, Child)>) -> Vec<String> {
    let (mut failed, mut first_failure) = (Vec::new(), None::<std::time::Instant>);
    while !children.is_empty() {
        let mut running = Vec::with_capacity(children.len());
        for (rank, mut child) in children {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => {}
                Ok(Some(status)) => {
                    failed.push(format!("rank {rank} ({status})"));
                    first_failure.get_or_insert_with(std::time::Instant::now);
                }
                Ok(None) if first_failure.is_some_and(|t| t.elapsed() > GRACE) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    failed.push(format!("rank {rank} (stopped by the launcher after another rank failed)"));
                }
                Ok(None) => running.push((rank, child)),
                Err(e) => failed.push(format!("rank {rank} (cannot wait: {e})")),
            }
        }
        children = running;
        if !children.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<RankEnv>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        RankEnv::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn torchrun_variables() {
        let e = env(&[
            ("RANK", "1"),
            ("WORLD_SIZE", "4"),
            ("LOCAL_RANK", "0"),
            ("MASTER_ADDR", "n1"),
            ("MASTER_PORT", "1234"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((e.launcher, e.rank, e.world_size, e.local_rank), (Launcher::Torchrun, 1, 4, 0));
        assert_eq!((e.group.master_addr.as_str(), e.group.master_port), ("n1", 1234));
        assert_eq!(e.group.timeout, Duration::from_secs(DEFAULT_TIMEOUT_S));
        assert!(e.log_line().contains("world size 4, rank 1") && e.log_line().contains("gloo"), "{}", e.log_line());
    }

    #[test]
    fn slurm_variables_and_the_first_node() {
        let e = env(&[
            ("SLURM_PROCID", "2"),
            ("SLURM_NTASKS", "3"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_JOB_NODELIST", "gpu[07-09],cpu1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((e.launcher, e.rank, e.world_size, e.local_rank), (Launcher::Slurm, 2, 3, 1));
        assert_eq!((e.group.master_addr.as_str(), e.group.master_port), ("gpu07", DEFAULT_PORT));
        // torchrun's variables win over Slurm's (torchrun inside an allocation).
        let e =
            env(&[("RANK", "0"), ("WORLD_SIZE", "2"), ("SLURM_PROCID", "5"), ("SLURM_NTASKS", "8")]).unwrap().unwrap();
        assert_eq!((e.launcher, e.rank, e.group.master_addr.as_str()), (Launcher::Torchrun, 0, "127.0.0.1"));
    }

    #[test]
    fn one_process_or_none_is_the_plain_run_and_bad_values_are_refused() {
        assert_eq!(env(&[]).unwrap(), None);
        assert_eq!(env(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1")]).unwrap(), None);
        let e = env(&[("RANK", "2"), ("WORLD_SIZE", "2")]).unwrap_err();
        assert!(e.to_string().contains("rank 2"), "{e}");
        let e = env(&[("RANK", "x"), ("WORLD_SIZE", "2")]).unwrap_err();
        assert!(e.to_string().contains("RANK=\"x\""), "{e}");
        let e = env(&[("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")]).unwrap_err();
        assert!(e.to_string().contains("MASTER_ADDR"), "{e}");
    }

    #[test]
    fn first_hosts_of_node_lists() {
        assert_eq!(first_host("node[03-05,9],gpu1").as_deref(), Some("node03"));
        assert_eq!(first_host("a1,b[1-2]").as_deref(), Some("a1"));
        assert_eq!(first_host("solo").as_deref(), Some("solo"));
        assert_eq!(first_host("n[012]").as_deref(), Some("n012"));
        assert_eq!(first_host(""), None);
    }
}
