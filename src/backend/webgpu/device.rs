//! Adapter and device setup: the limits this backend asks for stay within
//! what every WebGPU adapter offers (headless Chromium's SwiftShader
//! included): ≤ 256 invocations per workgroup, ≤ 5 storage buffers per
//! stage (the default allows 8), 16 KiB of workgroup memory, no shader-f16,
//! no subgroups. Only the buffer size limits are raised to the adapter's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Error, Result};

/// The device and its queue, with what the adapter said about itself.
pub(super) struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// The first fault the device reported (lost, or an error no scope
    /// caught): once set, every call fails with [`Error::DeviceLost`].
    fault: Arc<Mutex<Option<String>>>,
}

/// A buffer with a process-unique id (bind groups are cached by ids).
pub(super) struct Buf {
    pub id: u64,
    pub buffer: wgpu::Buffer,
    pub size: u64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn gpu_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Backend(format!("webgpu: {what}: {e}"))
}

impl Gpu {
    /// The first adapter the platform offers (natively: Vulkan, e.g. Mesa's
    /// lavapipe; in the browser: `navigator.gpu`), with a device that
    /// requires only baseline WebGPU features.
    pub(super) async fn new() -> Result<Self> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = if cfg!(target_arch = "wasm32") {
            wgpu::Backends::BROWSER_WEBGPU
        } else {
            wgpu::Backends::VULKAN
        };
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                gpu_err(
                    "no adapter (natively: install Mesa's lavapipe with `apt-get install mesa-vulkan-drivers libvulkan1`; in Chromium without a GPU: --enable-unsafe-webgpu)",
                    e,
                )
            })?;
        let offered = adapter.limits();
        let limits = required_limits(&offered);
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("persona"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                memory_hints: wgpu::MemoryHints::Performance,
                ..Default::default()
            })
            .await
            .map_err(|e| gpu_err("device request failed", e))?;
        let fault = Arc::new(Mutex::new(None));
        let on_lost = fault.clone();
        device.set_device_lost_callback(move |reason, message| {
            record(&on_lost, format!("{reason:?}: {message}"));
        });
        let on_error = fault.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            record(&on_error, e.to_string());
        }));
        Ok(Self {
            device,
            queue,
            info: adapter.get_info(),
            limits,
            fault,
        })
    }

    /// `Err(DeviceLost)` once the device has reported a fault.
    pub(super) fn check(&self) -> Result<()> {
        match self.fault.lock().map(|f| f.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(why)) => Err(Error::DeviceLost(why)),
            Err(_) => Err(Error::DeviceLost("fault record poisoned".into())),
        }
    }

    /// Destroys the device, as a driver reset would (tests of the fallback).
    pub(super) fn destroy(&self) {
        self.device.destroy();
        record(&self.fault, "destroyed on request".into());
    }

    pub(super) fn buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> Buf {
        let size = size.max(16).next_multiple_of(4);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        });
        Buf {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            buffer,
            size,
        }
    }

    /// A read-only storage buffer holding `bytes` (weights, uploaded once).
    pub(super) fn storage_init(&self, label: &str, bytes: &[u8]) -> Result<Buf> {
        if bytes.len() as u64 > self.limits.max_storage_buffer_binding_size {
            return Err(Error::Backend(format!(
                "webgpu: {label} needs {} bytes in one binding, the adapter allows {}",
                bytes.len(),
                self.limits.max_storage_buffer_binding_size
            )));
        }
        let buf = self.buffer(
            label,
            bytes.len() as u64,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        let padded = bytes.len().next_multiple_of(4);
        if padded == bytes.len() {
            self.queue.write_buffer(&buf.buffer, 0, bytes);
        } else {
            let mut v = bytes.to_vec();
            v.resize(padded, 0);
            self.queue.write_buffer(&buf.buffer, 0, &v);
        }
        Ok(buf)
    }

    /// A storage buffer the kernels write (activations, caches).
    pub(super) fn storage(&self, label: &str, size: u64) -> Buf {
        self.buffer(
            label,
            size,
            wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
        )
    }

    /// Whether this is a software adapter (lavapipe, SwiftShader).
    pub(super) fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }
}

/// Keeps the first fault: later ones are usually its consequences.
fn record(fault: &Mutex<Option<String>>, why: String) {
    if let Ok(mut f) = fault.lock() {
        f.get_or_insert(why);
    }
}

/// WebGPU's baseline limits, with the buffer sizes raised to what the
/// adapter offers (capped at 1 GiB): the embedding alone is 32 MB.
fn required_limits(offered: &wgpu::Limits) -> wgpu::Limits {
    let base = wgpu::Limits::default();
    wgpu::Limits {
        max_storage_buffer_binding_size: offered.max_storage_buffer_binding_size.min(1 << 30),
        max_buffer_size: offered.max_buffer_size.min(1 << 30),
        ..base
    }
}
