//! Where proxies train: `--device auto|cpu|wgpu`.
//!
//! `cpu` is burn's pure-Rust flex backend for initialising and scoring models, with training through
//! remix's own CPU step ([`super::cpu`]), which runs several times faster than flex's autodiff. `wgpu` is burn-wgpu on whatever the machine's Vulkan, Metal or
//! DX12 driver offers: a GPU, or on a machine without one Mesa's lavapipe (`mesa-vulkan-drivers`), which
//! is slow but computes the same model, so the tests check the two backends against each other. `auto`
//! is the CPU: the flex backend beats lavapipe, and GPU selection is left to an explicit `wgpu`.
//! `cuda` is refused with the devices this build has (the comment on `NO_CUDA` says why).

use std::str::FromStr;

use anyhow::{Result, anyhow};
use burn::prelude::*;

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

impl DeviceChoice {
    /// The device, checked to work: a `wgpu` request on a machine with no adapter is an error that
    /// says what to install, not a panic half-way through training.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceChoice::Auto | DeviceChoice::Cpu => Ok(Device::flex()),
            DeviceChoice::Wgpu => {
                let device = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
                probe(&device)?;
                Ok(device)
            }
        }
    }

    /// Bytes a stack of proxies may take for `--parallel 0` ("as many as fit"), or `None` where
    /// stacking does not pay and proxies train one at a time. On the CPU each proxy's step already uses
    /// every core ([`super::cpu`]), so `None`; on wgpu (lavapipe) a stack of 4 small proxies made 1.7x
    /// the tokens/s of one at a time (`remix bench train`, 2-core machine), as it turns P small kernels
    /// into one. The wgpu budget is 4 GiB: wgpu offers no portable way to ask a GPU for its free memory
    /// (give `--parallel` to use more of a large one).
    pub fn stack_budget(self) -> Option<u64> {
        match self {
            DeviceChoice::Auto | DeviceChoice::Cpu => None,
            DeviceChoice::Wgpu => Some(4 << 30),
        }
    }
}

/// burn's `cuda` feature downloads an LLVM bundle in a build script, which a machine without internet
/// access (this project's build machines) cannot build; NVIDIA GPUs are reached through wgpu (Vulkan).
const NO_CUDA: &str = "device `cuda` is not in this build of remix (devices in this build: cpu, wgpu): \
    use --device wgpu, which reaches NVIDIA GPUs through Vulkan, or cpu";

/// Runs one small operation on `device`, turning a failed adapter request into an error.
fn probe(device: &Device) -> Result<()> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result =
        std::panic::catch_unwind(|| Tensor::<1>::ones([4], device).sum().into_scalar::<f32>());
    std::panic::set_hook(hook);
    match result {
        Ok(4.0) => Ok(()),
        Ok(sum) => Err(anyhow!(
            "the wgpu device computed 1+1+1+1 = {sum}: its driver is broken"
        )),
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(anyhow!(
                "no wgpu device could be started ({reason}); devices found: cpu. On Linux without a GPU, \
                 install Mesa's Vulkan drivers (apt-get install mesa-vulkan-drivers) for lavapipe, or use \
                 --device cpu"
            ))
        }
    }
}
