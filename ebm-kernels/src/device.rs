//! Picking a wgpu adapter and bringing CubeCL up on it.
//!
//! # Which adapter
//!
//! [`GpuDevice::from_env`] reads `EBM_ADAPTER`; [`GpuDevice::new`] takes an
//! [`AdapterSelector`] directly. A selector is one of
//!
//! - `default` (or unset / empty): the best adapter by device type —
//!   discrete, then integrated, virtual, other, and a CPU adapter (lavapipe,
//!   llvmpipe) last — and by graphics API — Vulkan, Metal, DX12, then GL;
//! - `cpu`, `discrete`, `integrated`, `virtual`, `other`: the best adapter of
//!   that device type;
//! - `#N`: the adapter at index N of [`list_adapters`];
//! - anything else: the first adapter whose name contains the string
//!   (case-insensitive), in the default order.
//!
//! When nothing matches (in particular when the machine has no adapter at
//! all) the result is [`KernelError::NoAdapter`], whose message says how to
//! get one (`apt-get install mesa-vulkan-drivers` gives lavapipe, a Vulkan
//! device on the CPU). Nothing here panics inside wgpu.
//!
//! # One runtime per adapter
//!
//! Each adapter is registered with CubeCL once per process
//! (`cubecl::wgpu::try_init_device` on a wgpu setup made here); later calls
//! for the same adapter get a clone of the same [`GpuDevice`], so the
//! kernels' compilation cache and memory pools are shared.

use crate::error::{KernelError, Result};
use cubecl::client::Client;
use cubecl::wgpu::wgpu;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

/// The environment variable that names the adapter to use.
pub const ADAPTER_ENV: &str = "EBM_ADAPTER";

/// The device type an adapter reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AdapterKind {
    /// A discrete GPU.
    Discrete,
    /// A GPU integrated with the CPU.
    Integrated,
    /// A virtualised GPU.
    Virtual,
    /// Anything the driver does not classify.
    Other,
    /// A software device running on the CPU (lavapipe, llvmpipe, WARP).
    Cpu,
}

impl AdapterKind {
    /// The lowercase label used by `EBM_ADAPTER` and in test messages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Discrete => "discrete",
            Self::Integrated => "integrated",
            Self::Virtual => "virtual",
            Self::Other => "other",
            Self::Cpu => "cpu",
        }
    }

    fn from_wgpu(t: wgpu::DeviceType) -> Self {
        match t {
            wgpu::DeviceType::DiscreteGpu => Self::Discrete,
            wgpu::DeviceType::IntegratedGpu => Self::Integrated,
            wgpu::DeviceType::VirtualGpu => Self::Virtual,
            wgpu::DeviceType::Cpu => Self::Cpu,
            wgpu::DeviceType::Other => Self::Other,
        }
    }
}

/// How to choose an adapter; parse one from a string with [`str::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdapterSelector {
    /// The best adapter (see the module docs for the order).
    Default,
    /// The best adapter of this device type.
    Kind(AdapterKind),
    /// The adapter at this index of [`list_adapters`].
    Index(usize),
    /// The first adapter whose name contains this (case-insensitive).
    Name(String),
}

impl AdapterSelector {
    /// The selector named by `EBM_ADAPTER`, or [`AdapterSelector::Default`]
    /// when it is unset or empty.
    pub fn from_env() -> Result<Self> {
        match std::env::var(ADAPTER_ENV) {
            Ok(v) => v.parse(),
            Err(std::env::VarError::NotPresent) => Ok(Self::Default),
            Err(std::env::VarError::NotUnicode(v)) => Err(KernelError::BadSelector(v.to_string_lossy().into_owned())),
        }
    }
}

impl FromStr for AdapterSelector {
    type Err = KernelError;

    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "" | "default" => Self::Default,
            "cpu" => Self::Kind(AdapterKind::Cpu),
            "discrete" | "gpu" => Self::Kind(AdapterKind::Discrete),
            "integrated" => Self::Kind(AdapterKind::Integrated),
            "virtual" => Self::Kind(AdapterKind::Virtual),
            "other" => Self::Kind(AdapterKind::Other),
            _ => match lower.strip_prefix('#') {
                Some(n) => Self::Index(n.parse().map_err(|_| KernelError::BadSelector(s.into()))?),
                None => Self::Name(t.to_string()),
            },
        })
    }
}

impl fmt::Display for AdapterSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => write!(f, "default"),
            Self::Kind(k) => write!(f, "{}", k.label()),
            Self::Index(i) => write!(f, "#{i}"),
            Self::Name(n) => write!(f, "{n}"),
        }
    }
}

/// The adapter limits that matter to the kernels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceLimits {
    /// Largest workgroup size in x.
    pub max_workgroup_size_x: u32,
    /// Largest number of invocations in one workgroup.
    pub max_invocations_per_workgroup: u32,
    /// Bytes of workgroup (shared) memory.
    pub max_workgroup_storage_bytes: u32,
    /// Largest number of workgroups per dispatch dimension.
    pub max_workgroups_per_dimension: u32,
    /// Largest storage-buffer binding, in bytes.
    pub max_storage_buffer_binding_bytes: u64,
    /// Largest buffer, in bytes.
    pub max_buffer_bytes: u64,
    /// Storage buffers one shader stage may bind.
    pub max_storage_buffers_per_stage: u32,
}

impl DeviceLimits {
    fn from_wgpu(l: &wgpu::Limits) -> Self {
        Self {
            max_workgroup_size_x: l.max_compute_workgroup_size_x,
            max_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_workgroup_storage_bytes: l.max_compute_workgroup_storage_size,
            max_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_storage_buffer_binding_bytes: l.max_storage_buffer_binding_size,
            max_buffer_bytes: l.max_buffer_size,
            max_storage_buffers_per_stage: l.max_storage_buffers_per_shader_stage,
        }
    }
}

/// What an adapter is: name, graphics API, device type, driver and limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Position in [`list_adapters`] (selector `#index`).
    pub index: usize,
    /// The adapter's name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// The device type.
    pub kind: AdapterKind,
    /// The graphics API (`Vulkan`, `Metal`, `Dx12`, `Gl`).
    pub backend: String,
    /// The driver name.
    pub driver: String,
    /// The driver version / info string.
    pub driver_info: String,
    /// PCI vendor id.
    pub vendor: u32,
    /// PCI device id.
    pub device: u32,
    /// Compute limits.
    pub limits: DeviceLimits,
}

impl DeviceInfo {
    /// A one-line label for test and bench names: `kind:backend:name`.
    pub fn label(&self) -> String {
        format!("{}:{}:{}", self.kind.label(), self.backend, self.name)
    }
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.limits;
        write!(
            f,
            "#{} {} [{} on {}] driver {} {} (vendor {:#06x}, device {:#06x}); \
             workgroup ≤ {} invocations (x ≤ {}), shared {} B, storage binding {} B, \
             buffer {} B, {} storage buffers/stage, {} workgroups/dim",
            self.index,
            self.name,
            self.kind.label(),
            self.backend,
            self.driver,
            self.driver_info,
            self.vendor,
            self.device,
            l.max_invocations_per_workgroup,
            l.max_workgroup_size_x,
            l.max_workgroup_storage_bytes,
            l.max_storage_buffer_binding_bytes,
            l.max_buffer_bytes,
            l.max_storage_buffers_per_stage,
            l.max_workgroups_per_dimension,
        )
    }
}

/// One wgpu instance for the process: the Vulkan loader dislikes instances
/// created and dropped concurrently, and tests run on many threads.
fn instance() -> &'static Mutex<wgpu::Instance> {
    static INSTANCE: OnceLock<Mutex<wgpu::Instance>> = OnceLock::new();
    INSTANCE.get_or_init(|| {
        Mutex::new(wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::all(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        }))
    })
}

/// The adapters, enumerated once per process: enumerating GL adapters again
/// while a GL device is in use on another thread makes wgpu-hal panic, and
/// the adapter set of a machine does not change under a running process.
fn enumerate() -> &'static [(DeviceInfo, wgpu::Adapter)] {
    static ADAPTERS: OnceLock<Vec<(DeviceInfo, wgpu::Adapter)>> = OnceLock::new();
    ADAPTERS.get_or_init(|| {
        let guard = instance().lock().unwrap_or_else(|p| p.into_inner());
        let adapters = cubecl::future::block_on(guard.enumerate_adapters(wgpu::Backends::all()));
        adapters
            .into_iter()
            .enumerate()
            .map(|(index, a)| {
                let i = a.get_info();
                let info = DeviceInfo {
                    index,
                    name: i.name.clone(),
                    kind: AdapterKind::from_wgpu(i.device_type),
                    backend: format!("{:?}", i.backend),
                    driver: i.driver.clone(),
                    driver_info: i.driver_info.clone(),
                    vendor: i.vendor,
                    device: i.device,
                    limits: DeviceLimits::from_wgpu(&a.limits()),
                };
                (info, a)
            })
            .collect()
    })
}

/// Every adapter wgpu can see, on every graphics API, in enumeration order
/// (the index is the `#N` selector). Enumerated once per process.
pub fn list_adapters() -> Vec<DeviceInfo> {
    enumerate().iter().map(|(i, _)| i.clone()).collect()
}

fn backend_rank(b: &str) -> u8 {
    match b {
        "Vulkan" => 0,
        "Metal" => 1,
        "Dx12" => 2,
        "Gl" => 3,
        _ => 4,
    }
}

fn rank(i: &DeviceInfo) -> (AdapterKind, u8, usize) {
    (i.kind, backend_rank(&i.backend), i.index)
}

/// The adapter `selector` picks among `infos`, or `None`.
pub fn choose<'a>(infos: &'a [DeviceInfo], selector: &AdapterSelector) -> Option<&'a DeviceInfo> {
    let best = |f: &dyn Fn(&DeviceInfo) -> bool| infos.iter().filter(|i| f(i)).min_by_key(|i| rank(i));
    match selector {
        AdapterSelector::Default => best(&|_| true),
        AdapterSelector::Kind(k) => best(&|i| i.kind == *k),
        AdapterSelector::Index(n) => infos.iter().find(|i| i.index == *n),
        AdapterSelector::Name(s) => {
            let s = s.to_lowercase();
            best(&|i| i.name.to_lowercase().contains(&s))
        }
    }
}

/// A CubeCL client on one wgpu adapter, with the adapter's description.
/// Cheap to clone.
#[derive(Clone)]
pub struct GpuDevice {
    info: Arc<DeviceInfo>,
    client: Client,
    loop_budget: Option<u64>,
}

impl fmt::Debug for GpuDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuDevice").field("info", &self.info).field("loop_budget", &self.loop_budget).finish()
    }
}

type Registry = Mutex<Vec<((usize, String, String), GpuDevice)>>;

fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(Vec::new()))
}

impl GpuDevice {
    /// The adapter named by `EBM_ADAPTER` (the default adapter when unset).
    pub fn from_env() -> Result<Self> {
        Self::new(&AdapterSelector::from_env()?)
    }

    /// The best adapter (see the module docs).
    pub fn default_adapter() -> Result<Self> {
        Self::new(&AdapterSelector::Default)
    }

    /// The adapter `selector` picks; [`KernelError::NoAdapter`] (with the
    /// install hint) when there is none.
    pub fn new(selector: &AdapterSelector) -> Result<Self> {
        let all = enumerate();
        let infos: Vec<DeviceInfo> = all.iter().map(|(i, _)| i.clone()).collect();
        let Some(info) = choose(&infos, selector).cloned() else {
            let wanted = match selector {
                AdapterSelector::Default => "at all".to_string(),
                s => format!("matching selector `{s}` (env {ADAPTER_ENV})"),
            };
            return Err(KernelError::NoAdapter { wanted, seen: infos.iter().map(DeviceInfo::label).collect() });
        };
        let key = (info.index, info.name.clone(), info.backend.clone());
        let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, dev)) = reg.iter().find(|(k, _)| *k == key) {
            return Ok(dev.clone());
        }
        let adapter = all
            .iter()
            .find(|(i, _)| i.index == info.index)
            .map(|(_, a)| a.clone())
            .expect("the chosen adapter comes from the same enumeration");
        let dev = Self::bring_up(info, adapter)?;
        reg.push((key, dev.clone()));
        Ok(dev)
    }

    fn bring_up(info: DeviceInfo, adapter: wgpu::Adapter) -> Result<Self> {
        let init_err = |message: String| KernelError::DeviceInit { adapter: info.name.clone(), message };
        // The same request CubeCL's own WGSL path makes: every adapter
        // feature but mappable primary buffers, and the adapter's limits.
        let request = adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("ebm-kernels"),
            required_features: adapter.features().difference(wgpu::Features::MAPPABLE_PRIMARY_BUFFERS),
            required_limits: adapter.limits(),
            memory_hints: wgpu::MemoryHints::MemoryUsage,
            trace: wgpu::Trace::Off,
            // SAFETY: as in CubeCL's own device request (it may emit
            // passthrough shaders); nothing here uses them directly.
            experimental_features: unsafe { wgpu::ExperimentalFeatures::enabled() },
        });
        let (device, queue) = cubecl::future::block_on(request).map_err(|e| init_err(e.to_string()))?;
        let instance = instance().lock().unwrap_or_else(|p| p.into_inner()).clone();
        let setup = cubecl::wgpu::WgpuSetup { instance, backend: adapter.get_info().backend, adapter, device, queue };
        let options = cubecl::wgpu::RuntimeOptions::try_default().map_err(|e| init_err(e.to_string()))?;
        let wdev = cubecl::wgpu::try_init_device(setup, options).map_err(|e| init_err(e.to_string()))?;
        let client = cubecl::Device::Wgpu(wdev).client();
        let loop_budget = crate::probe::measure_loop_budget(&client).map_err(init_err)?;
        Ok(Self { info: Arc::new(info), client, loop_budget })
    }

    /// The total number of loop iterations one kernel invocation may run
    /// on this adapter before the driver silently stops its loops, measured
    /// when the device is brought up ([`crate::probe`]): `Some(65536)` on
    /// Mesa's llvmpipe (lavapipe), `None` on GPUs. The kernels plan their
    /// launches to stay below it (see [`crate::GpuEnergy`]).
    pub fn loop_budget(&self) -> Option<u64> {
        self.loop_budget
    }

    /// The adapter's description.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The CubeCL client that launches on this adapter.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Wraps a runtime error with the adapter's name.
    pub(crate) fn exec_err(&self, e: impl fmt::Debug) -> KernelError {
        KernelError::Execution { adapter: self.info.name.clone(), message: format!("{e:?}") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(index: usize, name: &str, kind: AdapterKind, backend: &str) -> DeviceInfo {
        DeviceInfo {
            index,
            name: name.into(),
            kind,
            backend: backend.into(),
            driver: String::new(),
            driver_info: String::new(),
            vendor: 0,
            device: 0,
            limits: DeviceLimits {
                max_workgroup_size_x: 256,
                max_invocations_per_workgroup: 256,
                max_workgroup_storage_bytes: 16384,
                max_workgroups_per_dimension: 65535,
                max_storage_buffer_binding_bytes: 1 << 27,
                max_buffer_bytes: 1 << 28,
                max_storage_buffers_per_stage: 8,
            },
        }
    }

    #[test]
    fn selectors_parse() {
        assert_eq!("".parse::<AdapterSelector>().unwrap(), AdapterSelector::Default);
        assert_eq!("CPU".parse::<AdapterSelector>().unwrap(), AdapterSelector::Kind(AdapterKind::Cpu));
        assert_eq!("#3".parse::<AdapterSelector>().unwrap(), AdapterSelector::Index(3));
        assert!("#x".parse::<AdapterSelector>().is_err());
        assert_eq!("llvmpipe".parse::<AdapterSelector>().unwrap(), AdapterSelector::Name("llvmpipe".into()));
    }

    #[test]
    fn choice_prefers_gpus_and_vulkan() {
        let infos = vec![
            info(0, "llvmpipe", AdapterKind::Cpu, "Vulkan"),
            info(1, "NVIDIA H200", AdapterKind::Discrete, "Gl"),
            info(2, "NVIDIA H200", AdapterKind::Discrete, "Vulkan"),
            info(3, "llvmpipe", AdapterKind::Cpu, "Gl"),
        ];
        assert_eq!(choose(&infos, &AdapterSelector::Default).unwrap().index, 2);
        assert_eq!(choose(&infos, &AdapterSelector::Kind(AdapterKind::Cpu)).unwrap().index, 0);
        assert_eq!(choose(&infos, &AdapterSelector::Name("LLVM".into())).unwrap().index, 0);
        assert_eq!(choose(&infos, &AdapterSelector::Index(3)).unwrap().index, 3);
        assert!(choose(&infos, &AdapterSelector::Kind(AdapterKind::Integrated)).is_none());
        assert!(choose(&[], &AdapterSelector::Default).is_none());
    }

    #[test]
    fn no_adapter_message_has_the_install_hint() {
        let e = KernelError::NoAdapter { wanted: "at all".into(), seen: vec![] };
        let msg = e.to_string();
        assert!(msg.contains("apt-get install mesa-vulkan-drivers"), "{msg}");
    }
}
