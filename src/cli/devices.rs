use clap::Args as ClapArgs;

use super::args::JsonArg;
use crate::proxy::device::{adapters, auto_pick};

/// List the GPUs and other adapters wgpu finds, and the device `--device auto` trains on.
///
/// The adapters are those of the graphics API burn's wgpu runtime settles on (Vulkan first on Linux).
/// `auto` takes the best GPU (discrete, integrated, virtual) and the CPU where there is none: a
/// software adapter such as lavapipe is slower than remix's CPU step.
///
/// Examples:
///
///   remix devices
///
///   remix devices --json
#[derive(Debug, ClapArgs)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    pub json: JsonArg,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let found = adapters();
    let pick = auto_pick(&found);
    if args.json.enabled {
        let summary = serde_json::json!({
            "adapters": found,
            "auto": match &pick {
                Ok(index) => serde_json::json!({"device": "wgpu", "adapter": index}),
                Err(why) => serde_json::json!({"device": "cpu", "reason": why}),
            },
        });
        args.json.print(&summary)?;
        return Ok(());
    }
    if found.is_empty() {
        println!("wgpu adapters: none");
    }
    for (i, adapter) in found.iter().enumerate() {
        let memory = adapter
            .memory_bytes
            .map_or("memory not reported".into(), |b| {
                format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
            });
        println!(
            "{i}: {} ({:?}, {}), {memory}, largest buffer {:.1} GiB",
            adapter.name,
            adapter.kind,
            adapter.backend,
            adapter.max_binding_bytes as f64 / (1u64 << 30) as f64
        );
    }
    match pick {
        Ok(index) => println!("--device auto: wgpu on adapter {index}"),
        Err(why) => println!("--device auto: cpu ({why})"),
    }
    Ok(())
}
