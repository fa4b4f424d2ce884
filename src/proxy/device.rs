//! Where proxies train: `--device auto|cpu|wgpu`, decided from wgpu's own adapter list.
//!
//! `cpu` is burn's pure-Rust flex backend for initialising and scoring models, with training through
//! remix's own CPU step ([`super::cpu`]), which runs several times faster than flex's autodiff. `wgpu`
//! is burn-wgpu on whatever the machine's Vulkan, Metal or DX12 driver offers: a GPU, or on a machine
//! without one Mesa's lavapipe (`mesa-vulkan-drivers`), which is slow but computes the same model, so
//! the tests check the two backends against each other.
//!
//! `auto` asks wgpu for its adapters ([`adapters`]), on the graphics API burn's wgpu runtime settles
//! on (cubecl's chain: Vulkan, then DX12, then OpenGL; Metal on macOS; the first with a GPU). A
//! discrete, integrated or virtual GPU means `wgpu` on that GPU; a CPU adapter (lavapipe, llvmpipe,
//! SwiftShader), another kind, or none means `cpu`, since remix's CPU step beats any software
//! rasteriser ([`auto_pick`]). The choice, the adapter's name, type and backend and the reason are
//! logged, and the device's [`ProxyDevice::label`] goes into the runs table's `device` column.
//!
//! `cuda` is refused with the devices this build has (the comment on `NO_CUDA` says why).

use std::str::FromStr;

use anyhow::{Result, anyhow};
use burn::backend::wgpu::wgpu;
use burn::prelude::*;
use burn::tensor::DeviceKind;
use serde::Serialize;

use crate::core::panic::quietly;

/// `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Wgpu,
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "wgpu" => Ok(DeviceChoice::Wgpu),
            "cuda" => Err(NO_CUDA.into()),
            _ => Err(format!("`{text}` is not a device: use auto, cpu or wgpu")),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Wgpu => "wgpu",
        })
    }
}

/// What kind of adapter wgpu reports (`wgpu::DeviceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AdapterType {
    DiscreteGpu,
    IntegratedGpu,
    VirtualGpu,
    /// A software rasteriser on the CPU (lavapipe, llvmpipe, SwiftShader).
    Cpu,
    Other,
}

/// One adapter of the graphics API burn's wgpu runtime settles on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adapter {
    /// The driver's name for it, e.g. "NVIDIA H200" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    pub kind: AdapterType,
    /// The graphics API: "Vulkan", "Metal", "Dx12", "Gl".
    pub backend: String,
    /// Bytes of the largest device-local memory heap, where the backend reports heaps (Vulkan).
    pub memory_bytes: Option<u64>,
    /// The largest buffer one storage binding can address, in bytes: the smaller of wgpu's
    /// `max_buffer_size` and `max_storage_buffer_binding_size` for this adapter.
    pub max_binding_bytes: u64,
}

impl Adapter {
    /// A CPU adapter, or one whose name gives away a software rasteriser that reports another type.
    fn is_software(&self) -> bool {
        let name = self.name.to_lowercase();
        self.kind == AdapterType::Cpu
            || ["llvmpipe", "lavapipe", "swiftshader"]
                .iter()
                .any(|s| name.contains(s))
    }

    /// Preference among GPUs: discrete, then integrated, then virtual; `None` for anything else.
    fn gpu_rank(&self) -> Option<u8> {
        if self.is_software() {
            return None;
        }
        match self.kind {
            AdapterType::DiscreteGpu => Some(0),
            AdapterType::IntegratedGpu => Some(1),
            AdapterType::VirtualGpu => Some(2),
            AdapterType::Cpu | AdapterType::Other => None,
        }
    }

    fn describe(&self) -> String {
        format!("{} ({:?}, {})", self.name, self.kind, self.backend)
    }
}

/// `auto`'s rule over `adapters` (in wgpu's order): the index of the best GPU (discrete, then
/// integrated, then virtual; the first of a kind), or why the CPU is the better device.
pub fn auto_pick(adapters: &[Adapter]) -> std::result::Result<usize, String> {
    if let Some((index, _)) = adapters
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.gpu_rank().map(|rank| (i, rank)))
        .min_by_key(|&(i, rank)| (rank, i))
    {
        return Ok(index);
    }
    if adapters.is_empty() {
        return Err("wgpu found no adapter (no Vulkan, Metal or DX12 driver)".into());
    }
    let found: Vec<String> = adapters.iter().map(Adapter::describe).collect();
    Err(format!(
        "the only wgpu adapters are not GPUs: {}; remix's CPU step is faster than a software \
         rasteriser (use --device wgpu to train on it anyway)",
        found.join("; ")
    ))
}

/// `wgpu`'s rule: the GPU `auto` would take, else the first adapter of any kind (lavapipe on a
/// machine without a GPU), else `None`.
fn wgpu_pick(adapters: &[Adapter]) -> Option<usize> {
    auto_pick(adapters)
        .ok()
        .or_else(|| (!adapters.is_empty()).then_some(0))
}

/// burn's name for `adapters[index]`: its kind and its place among the adapters of that kind, which is
/// how cubecl's wgpu runtime selects an adapter from the same list.
fn device_kind(adapters: &[Adapter], index: usize) -> DeviceKind {
    let kind = adapters[index].kind;
    let nth = adapters[..index].iter().filter(|a| a.kind == kind).count();
    match kind {
        AdapterType::DiscreteGpu => DeviceKind::DiscreteGpu(nth),
        AdapterType::IntegratedGpu => DeviceKind::IntegratedGpu(nth),
        AdapterType::VirtualGpu => DeviceKind::VirtualGpu(nth),
        AdapterType::Cpu => DeviceKind::Cpu,
        AdapterType::Other => DeviceKind::DefaultDevice,
    }
}

/// The device proxies train on: burn's device, the wgpu adapter behind it, and why it was chosen.
#[derive(Debug, Clone)]
pub struct ProxyDevice {
    pub device: Device,
    /// `None` on the CPU.
    pub adapter: Option<Adapter>,
    /// Why this device, in a sentence (logged, and kept with the results).
    pub reason: String,
}

/// How much one stack of proxies may take on a device ([`ProxyDevice::stack_budget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackBudget {
    /// Bytes all proxies of a stack may hold together.
    pub bytes: u64,
    /// Bytes of the largest single buffer (one binding) the device takes.
    pub max_binding_bytes: u64,
    /// Whether `bytes` came from the adapter's memory heap (else the fixed fallback).
    pub from_adapter: bool,
}

impl StackBudget {
    /// Where `bytes` came from, for the log.
    pub fn source(&self) -> String {
        if self.from_adapter {
            format!(
                "{:.0}% of the adapter's largest memory heap",
                HEAP_SHARE * 100.0
            )
        } else {
            "the fallback: wgpu reports no memory heap here".into()
        }
    }
}

/// The stack budget where wgpu reports no memory heap: a size every GPU worth training on has.
const FALLBACK_STACK_BYTES: u64 = 4 << 30;

/// Share of the largest device-local heap a stack may fill: the rest is for cubecl's memory pools
/// (allocations round up to pages), the validation batches and whatever else runs on the GPU.
const HEAP_SHARE: f64 = 0.8;

impl ProxyDevice {
    /// The CPU device.
    pub fn cpu(reason: impl Into<String>) -> Self {
        Self {
            device: Device::flex(),
            adapter: None,
            reason: reason.into(),
        }
    }

    /// What the runs table and the manifest record: `cpu`, or `wgpu: NAME (TYPE, BACKEND)`.
    pub fn label(&self) -> String {
        match &self.adapter {
            None => "cpu".into(),
            Some(adapter) => format!("wgpu: {}", adapter.describe()),
        }
    }

    /// Bytes a stack of proxies may take for `--parallel 0` ("as many as fit"), or `None` where
    /// stacking does not pay and proxies train one at a time. On the CPU each proxy's step already uses
    /// every core ([`super::cpu`]), so `None`. On wgpu, [`HEAP_SHARE`] of the adapter's largest
    /// device-local heap where the backend reports heaps (Vulkan), else 4 GiB; on lavapipe a stack of 4
    /// small proxies made 1.7x the tokens/s of one at a time (`remix bench train`, 2-core machine).
    pub fn stack_budget(&self) -> Option<StackBudget> {
        let adapter = self.adapter.as_ref()?;
        let from_heap = adapter
            .memory_bytes
            .map(|bytes| (bytes as f64 * HEAP_SHARE) as u64);
        Some(StackBudget {
            bytes: from_heap.unwrap_or(FALLBACK_STACK_BYTES),
            max_binding_bytes: adapter.max_binding_bytes,
            from_adapter: from_heap.is_some(),
        })
    }
}

impl DeviceChoice {
    /// The device, decided and checked: `auto` from wgpu's adapter list ([`auto_pick`]); a `wgpu`
    /// request on a machine with no adapter is an error that says what to install, not a panic
    /// half-way through training. Logs the choice and its reason.
    pub fn resolve(self) -> Result<ProxyDevice> {
        let chosen = match self {
            DeviceChoice::Cpu => ProxyDevice::cpu("--device cpu"),
            DeviceChoice::Auto => {
                let found = adapters();
                match auto_pick(&found) {
                    Ok(index) => on_adapter(&found, index, "auto: the best GPU wgpu reports")
                        .unwrap_or_else(|e| {
                            // A GPU the driver lists but cannot start (a container without its
                            // compute libraries, say): the CPU still trains.
                            tracing::warn!("auto: the GPU wgpu reports did not start ({e:#})");
                            ProxyDevice::cpu(format!(
                                "auto chose the CPU: {} did not start",
                                found[index].describe()
                            ))
                        }),
                    Err(why) => ProxyDevice::cpu(format!("auto chose the CPU: {why}")),
                }
            }
            DeviceChoice::Wgpu => {
                let found = adapters();
                let index = wgpu_pick(&found).ok_or_else(|| no_adapter("wgpu found no adapter"))?;
                on_adapter(&found, index, "--device wgpu")?
            }
        };
        match &chosen.adapter {
            Some(adapter) => tracing::info!(
                adapter = %adapter.name,
                kind = ?adapter.kind,
                backend = %adapter.backend,
                memory_gib = adapter.memory_bytes.map(|b| b as f64 / (1u64 << 30) as f64),
                "proxies train on wgpu: {}",
                chosen.reason
            ),
            None => tracing::info!("proxies train on the CPU: {}", chosen.reason),
        }
        Ok(chosen)
    }

    /// burn's device of [`Self::resolve`].
    pub fn device(self) -> Result<Device> {
        Ok(self.resolve()?.device)
    }
}

/// The wgpu device on `adapters[index]`, checked to compute.
fn on_adapter(adapters: &[Adapter], index: usize, why: &str) -> Result<ProxyDevice> {
    let adapter = adapters[index].clone();
    let device = Device::wgpu(device_kind(adapters, index));
    probe(&device)?;
    Ok(ProxyDevice {
        device,
        reason: format!("{why}: {}", adapter.describe()),
        adapter: Some(adapter),
    })
}

/// The adapters of the graphics API burn's wgpu runtime settles on, in wgpu's order: the first API of
/// cubecl's chain with an adapter that is not a CPU one, else the first with any adapter. Empty where
/// no driver answers (or asking it panics).
pub fn adapters() -> Vec<Adapter> {
    quietly(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().build().ok()?;
        let mut software_only = None;
        for api in burn::backend::wgpu::graphics::AutoGraphicsApi::chain() {
            let found = runtime.block_on(adapters_on(api));
            if found.iter().any(|a| a.kind != AdapterType::Cpu) {
                return Some(found);
            }
            if software_only.is_none() && !found.is_empty() {
                software_only = Some(found);
            }
        }
        software_only
    })
    .ok()
    .flatten()
    .unwrap_or_default()
}

async fn adapters_on(api: wgpu::Backend) -> Vec<Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: api.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    instance
        .enumerate_adapters(api.into())
        .await
        .iter()
        .map(|adapter| {
            let info = adapter.get_info();
            let limits = adapter.limits();
            Adapter {
                name: info.name.clone(),
                kind: match info.device_type {
                    wgpu::DeviceType::DiscreteGpu => AdapterType::DiscreteGpu,
                    wgpu::DeviceType::IntegratedGpu => AdapterType::IntegratedGpu,
                    wgpu::DeviceType::VirtualGpu => AdapterType::VirtualGpu,
                    wgpu::DeviceType::Cpu => AdapterType::Cpu,
                    wgpu::DeviceType::Other => AdapterType::Other,
                },
                backend: format!("{:?}", info.backend),
                memory_bytes: device_local_heap(adapter),
                max_binding_bytes: limits
                    .max_buffer_size
                    .min(limits.max_storage_buffer_binding_size),
            }
        })
        .collect()
}

/// The largest device-local memory heap of a Vulkan adapter (`vkGetPhysicalDeviceMemoryProperties`),
/// `None` on other APIs.
#[cfg(not(any(target_os = "macos", target_os = "ios", target_family = "wasm")))]
fn device_local_heap(adapter: &wgpu::Adapter) -> Option<u64> {
    /// `VK_MEMORY_HEAP_DEVICE_LOCAL_BIT` (Vulkan 1.0 specification, `VkMemoryHeapFlagBits`).
    const DEVICE_LOCAL: u32 = 0x1;
    // SAFETY: the hal adapter is only read, while `adapter` (which owns it) is alive; the physical
    // device handle comes from the same instance the properties are asked of.
    let hal = unsafe { adapter.as_hal::<wgpu::hal::api::Vulkan>() }?;
    let properties = unsafe {
        hal.shared_instance()
            .raw_instance()
            .get_physical_device_memory_properties(hal.raw_physical_device())
    };
    let count = (properties.memory_heap_count as usize).min(properties.memory_heaps.len());
    properties.memory_heaps[..count]
        .iter()
        .filter(|heap| heap.flags.as_raw() & DEVICE_LOCAL != 0)
        .map(|heap| heap.size)
        .max()
}

#[cfg(any(target_os = "macos", target_os = "ios", target_family = "wasm"))]
fn device_local_heap(_adapter: &wgpu::Adapter) -> Option<u64> {
    None
}

/// burn's `cuda` feature downloads an LLVM bundle in a build script, which a machine without internet
/// access (this project's build machines) cannot build; NVIDIA GPUs are reached through wgpu (Vulkan).
const NO_CUDA: &str = "device `cuda` is not in this build of remix (devices in this build: cpu, wgpu): \
    use --device wgpu, which reaches NVIDIA GPUs through Vulkan, or cpu";

fn no_adapter(reason: &str) -> anyhow::Error {
    anyhow!(
        "no wgpu device could be started ({reason}); devices found: cpu. On Linux without a GPU, \
         install Mesa's Vulkan drivers (apt-get install mesa-vulkan-drivers) for lavapipe, or use \
         --device cpu"
    )
}

/// Runs one small operation on `device`, turning a failed adapter request into an error.
fn probe(device: &Device) -> Result<()> {
    match quietly(|| Tensor::<1>::ones([4], device).sum().into_scalar::<f32>()) {
        Ok(4.0) => Ok(()),
        Ok(sum) => Err(anyhow!(
            "the wgpu device computed 1+1+1+1 = {sum}: its driver is broken"
        )),
        Err(reason) => Err(no_adapter(&reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, kind: AdapterType) -> Adapter {
        Adapter {
            name: name.into(),
            kind,
            backend: "Vulkan".into(),
            memory_bytes: None,
            max_binding_bytes: 1 << 30,
        }
    }

    #[test]
    fn auto_takes_the_best_gpu_and_never_a_software_rasteriser() {
        let lavapipe = adapter("llvmpipe (LLVM 15.0.6, 256 bits)", AdapterType::Cpu);
        let igpu = adapter("Intel(R) UHD Graphics 770", AdapterType::IntegratedGpu);
        let h200 = adapter("NVIDIA H200", AdapterType::DiscreteGpu);
        let vgpu = adapter("Virtio-GPU Venus", AdapterType::VirtualGpu);
        assert_eq!(
            auto_pick(&[lavapipe.clone(), igpu.clone(), h200.clone()]),
            Ok(2)
        );
        assert_eq!(auto_pick(&[lavapipe.clone(), igpu.clone()]), Ok(1));
        assert_eq!(auto_pick(&[vgpu.clone(), lavapipe.clone()]), Ok(0));
        assert_eq!(auto_pick(&[igpu.clone(), vgpu]), Ok(0));
        // The first of two discrete GPUs.
        assert_eq!(auto_pick(&[h200.clone(), h200]), Ok(0));

        let why = auto_pick(std::slice::from_ref(&lavapipe)).unwrap_err();
        assert!(
            why.contains("llvmpipe") && why.contains("Cpu") && why.contains("not GPUs"),
            "{why}"
        );
        assert!(auto_pick(&[]).unwrap_err().contains("no adapter"));
        // Software by name, whatever type the driver reports.
        let gl_llvmpipe = adapter(
            "llvmpipe (LLVM 15.0.6, 256 bits)",
            AdapterType::IntegratedGpu,
        );
        assert!(auto_pick(&[gl_llvmpipe]).is_err());
        assert!(auto_pick(&[adapter("unknown", AdapterType::Other)]).is_err());
    }

    #[test]
    fn wgpu_falls_back_to_the_software_adapter_and_burn_selects_by_kind_and_place() {
        let lavapipe = adapter("llvmpipe", AdapterType::Cpu);
        let a = adapter("A", AdapterType::DiscreteGpu);
        let b = adapter("B", AdapterType::DiscreteGpu);
        assert_eq!(wgpu_pick(std::slice::from_ref(&lavapipe)), Some(0));
        assert_eq!(wgpu_pick(&[]), None);
        let list = [a, lavapipe, b];
        assert_eq!(device_kind(&list, 0), DeviceKind::DiscreteGpu(0));
        assert_eq!(device_kind(&list, 1), DeviceKind::Cpu);
        assert_eq!(device_kind(&list, 2), DeviceKind::DiscreteGpu(1));
    }

    #[test]
    fn the_stack_budget_follows_the_adapters_heap_and_falls_back_to_4_gib() {
        let mut gpu = adapter("NVIDIA H200", AdapterType::DiscreteGpu);
        let on = |adapter: Adapter| ProxyDevice {
            device: Device::flex(),
            reason: String::new(),
            adapter: Some(adapter),
        };
        let fallback = on(gpu.clone()).stack_budget().unwrap();
        assert_eq!((fallback.bytes, fallback.from_adapter), (4 << 30, false));
        gpu.memory_bytes = Some(140 << 30);
        let budget = on(gpu).stack_budget().unwrap();
        assert_eq!(budget.bytes, 112 << 30);
        assert!(budget.from_adapter);
        assert_eq!(ProxyDevice::cpu("test").stack_budget(), None);
        assert_eq!(ProxyDevice::cpu("test").label(), "cpu");
    }
}
