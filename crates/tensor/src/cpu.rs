//! What this processor is and what its products run on: the CPU model, its cache sizes, the
//! widest vector instructions it has, the kernels OpenBLAS chose, and so which path each element
//! type's `gemm` takes.
//!
//! The block sizes of the AVX-512 product come from the cache sizes here (see `panels`), and
//! `backprop info` prints the rest, so that a slow path is never silent: Debian's OpenBLAS
//! 0.3.21, for example, does not know some recent processors and falls back to its SSE3
//! ("Prescott") kernels, several times below what the machine can do.
//!
//! Cache sizes are read from sysfs (`/sys/devices/system/cpu/cpu0/cache/index*`), with CPUID
//! (leaf 4 on Intel, 0x8000001D on AMD) where sysfs is missing (some containers), and typical
//! sizes when neither answers. Each fact is computed once.

use std::ffi::{CStr, c_char};
use std::path::Path;
use std::sync::OnceLock;

/// The data caches of one core, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level-1 data cache of one core.
    pub l1d: usize,
    /// Level-2 cache (of one core on the processors this targets).
    pub l2: usize,
    /// Level-3 cache, as a whole.
    pub l3: usize,
    /// How many logical CPUs share the level-3 cache (at least 1).
    pub l3_sharing: usize,
    /// Where the sizes came from: `"sysfs"`, `"cpuid"` or `"default"`.
    pub source: &'static str,
}

impl CacheSizes {
    /// Sizes assumed when neither sysfs nor CPUID answers: those of a common server core.
    pub const DEFAULT: CacheSizes =
        CacheSizes { l1d: 32 << 10, l2: 1 << 20, l3: 8 << 20, l3_sharing: 1, source: "default" };

    /// The share of the level-3 cache one logical CPU can count on.
    pub fn l3_share(&self) -> usize {
        self.l3 / self.l3_sharing.max(1)
    }
}

/// This machine's cache sizes (read once).
pub fn cache_sizes() -> CacheSizes {
    static SIZES: OnceLock<CacheSizes> = OnceLock::new();
    *SIZES.get_or_init(|| {
        sysfs_caches(Path::new("/sys/devices/system/cpu/cpu0/cache"))
            .or_else(cpuid_caches)
            .unwrap_or(CacheSizes::DEFAULT)
    })
}

/// Parses a sysfs cache size such as `32K`, `2048K` or `32M` into bytes.
pub(crate) fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let value: usize = digits.parse().ok()?;
    let scale = match unit {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(scale)
}

/// The number of CPUs in a sysfs CPU list such as `0-1`, `0,2-3` or `5`.
pub(crate) fn count_cpu_list(text: &str) -> Option<usize> {
    let mut count = 0usize;
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        count += match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi): (usize, usize) = (lo.parse().ok()?, hi.parse().ok()?);
                hi.checked_sub(lo)? + 1
            }
            None => {
                part.parse::<usize>().ok()?;
                1
            }
        };
    }
    (count > 0).then_some(count)
}

/// The caches described under `dir` (a sysfs `cpuN/cache` folder), when it has at least the
/// level-1 data and level-2 caches.
pub(crate) fn sysfs_caches(dir: &Path) -> Option<CacheSizes> {
    let (mut l1d, mut l2, mut l3, mut l3_sharing) = (None, None, 0, 1);
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with("index") {
            continue;
        }
        let read = |name: &str| std::fs::read_to_string(path.join(name)).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size")) else {
            continue;
        };
        let Some(size) = parse_size(&size) else { continue };
        match (level.trim(), kind.trim()) {
            ("1", "Data") => l1d = Some(size),
            ("2", "Unified" | "Data") => l2 = Some(size),
            ("3", "Unified") => {
                l3 = size;
                l3_sharing = read("shared_cpu_list").and_then(|l| count_cpu_list(&l)).unwrap_or(1);
            }
            _ => {}
        }
    }
    Some(CacheSizes { l1d: l1d?, l2: l2?, l3, l3_sharing, source: "sysfs" })
}

/// The caches as CPUID's deterministic cache parameters describe them (leaf 4 on Intel,
/// 0x8000001D on AMD, which has the same layout).
#[cfg(target_arch = "x86_64")]
// Recent Rust declares the CPUID intrinsics safe; the crate's minimum version still needs the
// blocks.
#[allow(unused_unsafe)]
fn cpuid_caches() -> Option<CacheSizes> {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: CPUID exists on every x86_64 processor; leaves above the maximum return zeros
    // or the highest leaf's values, which the checks below reject.
    let max_leaf = unsafe { __cpuid(0) }.eax;
    // SAFETY: as above.
    let max_ext = unsafe { __cpuid(0x8000_0000) }.eax;
    let leaf = if max_leaf >= 4 && unsafe { __cpuid_count(4, 0) }.eax & 0x1f != 0 {
        4
    } else if max_ext >= 0x8000_001d {
        0x8000_001d
    } else {
        return None;
    };
    let (mut l1d, mut l2, mut l3, mut l3_sharing) = (None, None, 0, 1);
    for index in 0..16 {
        // SAFETY: the leaf exists (checked above); a zero type ends the list.
        let r = unsafe { __cpuid_count(leaf, index) };
        let kind = r.eax & 0x1f;
        if kind == 0 {
            break;
        }
        let level = (r.eax >> 5) & 0x7;
        let sharing = ((r.eax >> 14) & 0xfff) as usize + 1;
        let ways = ((r.ebx >> 22) & 0x3ff) as usize + 1;
        let partitions = ((r.ebx >> 12) & 0x3ff) as usize + 1;
        let line = (r.ebx & 0xfff) as usize + 1;
        let sets = r.ecx as usize + 1;
        let size = ways * partitions * line * sets;
        // Types: 1 data, 2 instruction, 3 unified.
        match (level, kind) {
            (1, 1) => l1d = Some(size),
            (2, 1 | 3) => l2 = Some(size),
            (3, 3) => {
                l3 = size;
                l3_sharing = sharing;
            }
            _ => {}
        }
    }
    Some(CacheSizes { l1d: l1d?, l2: l2?, l3, l3_sharing, source: "cpuid" })
}

#[cfg(not(target_arch = "x86_64"))]
fn cpuid_caches() -> Option<CacheSizes> {
    None
}

/// The `model name` of the first processor in a `/proc/cpuinfo` text.
pub(crate) fn parse_model_name(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

/// The processor's model name from `/proc/cpuinfo` (`"unknown"` where there is none).
pub fn cpu_model() -> &'static str {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL.get_or_init(|| {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| parse_model_name(&text))
            .unwrap_or_else(|| "unknown".into())
    })
}

/// A level of x86 vector instructions, in the order of their width and what they compute per
/// cycle (each level includes the ones below).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VectorIsa {
    /// 128-bit SSE (SSE2/SSE3): what OpenBLAS's oldest kernels use.
    Sse,
    /// 256-bit AVX without fused multiply-add.
    Avx,
    /// 256-bit AVX2 with FMA3.
    Avx2,
    /// 512-bit AVX-512F.
    Avx512,
}

impl VectorIsa {
    /// Its usual name.
    pub fn name(self) -> &'static str {
        match self {
            VectorIsa::Sse => "SSE",
            VectorIsa::Avx => "AVX",
            VectorIsa::Avx2 => "AVX2",
            VectorIsa::Avx512 => "AVX-512",
        }
    }
}

/// The widest vector instructions this processor runs.
pub fn cpu_isa() -> VectorIsa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return VectorIsa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return VectorIsa::Avx2;
        }
        if std::arch::is_x86_feature_detected!("avx") {
            return VectorIsa::Avx;
        }
    }
    VectorIsa::Sse
}

/// The vector instructions OpenBLAS's kernels for a core type use (its `openblas_get_corename`
/// names, matched without case), or `None` for a name this table does not know.
pub fn core_isa(core: &str) -> Option<VectorIsa> {
    const TABLE: [(&[&str], VectorIsa); 4] = [
        (
            &[
                "prescott",
                "core2",
                "penryn",
                "dunnington",
                "nehalem",
                "atom",
                "opteron",
                "opteron(sse3)",
                "barcelona",
                "bobcat",
                "nano",
                "katmai",
                "coppermine",
                "northwood",
                "banias",
                "athlon",
                "generic",
            ],
            VectorIsa::Sse,
        ),
        (&["sandybridge", "bulldozer"], VectorIsa::Avx),
        (&["haswell", "zen", "piledriver", "steamroller", "excavator"], VectorIsa::Avx2),
        (&["skylakex", "cooperlake", "sapphirerapids"], VectorIsa::Avx512),
    ];
    let core = core.trim().to_ascii_lowercase();
    TABLE.iter().find(|(names, _)| names.contains(&core.as_str())).map(|&(_, isa)| isa)
}

unsafe extern "C" {
    /// OpenBLAS's name of the kernels it chose for this processor (a static string).
    fn openblas_get_corename() -> *const c_char;
}

/// The kernels OpenBLAS runs here, as `openblas_get_corename` names them (e.g. `"Haswell"`,
/// `"SkylakeX"`, `"Prescott"`). Honours `OPENBLAS_CORETYPE`, which this crate never changes.
pub fn openblas_core() -> &'static str {
    static CORE: OnceLock<String> = OnceLock::new();
    CORE.get_or_init(|| {
        // SAFETY: OpenBLAS returns a pointer to a static NUL-terminated string (or null).
        let name = unsafe { openblas_get_corename() };
        if name.is_null() {
            return "unknown".into();
        }
        // SAFETY: non-null, NUL-terminated and static (above).
        unsafe { CStr::from_ptr(name) }.to_string_lossy().trim().to_string()
    })
}

/// Whether OpenBLAS's kernels for `core` use narrower vectors than a processor with `cpu` runs
/// (a fallback such as "Prescott" on an AVX2 machine). An unknown core name is not called a
/// fallback: nothing is known about it.
pub fn is_fallback(core: &str, cpu: VectorIsa) -> bool {
    core_isa(core).is_some_and(|isa| isa < cpu)
}

/// Which code computes a matrix product of one element type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GemmPath {
    /// This crate's blocked AVX-512 kernel ([`avx512_kernel_runs`]), with its block sizes
    /// `(mc, kc, nc)`.
    Avx512 {
        /// Rows, depth and columns of a block.
        blocking: (usize, usize, usize),
        /// `openblas_get_corename` of the OpenBLAS kernels it replaces, when they are a
        /// fallback below this processor (for `f32` the kernel runs whatever OpenBLAS chose).
        replaces_fallback: Option<String>,
    },
    /// The `gemm` crate's kernels (AVX2/FMA, chosen at run time), in place of OpenBLAS's `core`
    /// kernels, which are a fallback narrower than this processor's vectors.
    GemmCrate {
        /// `openblas_get_corename` of the kernels replaced.
        core: String,
    },
    /// OpenBLAS, with the kernels it chose.
    OpenBlas {
        /// `openblas_get_corename`.
        core: String,
        /// Whether those kernels are narrower than this processor's vectors.
        fallback: bool,
    },
}

impl std::fmt::Display for GemmPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GemmPath::Avx512 { blocking: (mc, kc, nc), replaces_fallback } => {
                write!(f, "backprop AVX-512 kernel (blocks mc={mc} kc={kc} nc={nc})")?;
                if let Some(core) = replaces_fallback {
                    let isa = core_isa(core).map_or("?", VectorIsa::name);
                    write!(
                        f,
                        ", in place of OpenBLAS's {core} kernels ({isa}), a fallback below this CPU's AVX-512"
                    )?;
                }
                Ok(())
            }
            GemmPath::OpenBlas { core, fallback: false } => {
                let isa = core_isa(core).map_or("unknown width".to_string(), |i| i.name().to_string());
                write!(f, "OpenBLAS {core} kernels ({isa})")
            }
            GemmPath::GemmCrate { core } => {
                let isa = core_isa(core).map_or("?", VectorIsa::name);
                write!(
                    f,
                    "the gemm crate, in place of OpenBLAS's {core} kernels ({isa}), a fallback below this CPU's {}",
                    cpu_isa().name()
                )
            }
            GemmPath::OpenBlas { core, fallback: true } => {
                let isa = core_isa(core).map_or("?", VectorIsa::name);
                write!(
                    f,
                    "OpenBLAS {core} kernels ({isa}): a fallback below this CPU's {}, several times slower than the machine allows",
                    cpu_isa().name()
                )
            }
        }
    }
}

/// The path `gemm` takes for large products of `F` here (small and one-row products of `f32`
/// may take other kernels of this crate, see [`crate::gemm`]).
pub fn gemm_path<F: crate::Float>() -> GemmPath {
    let core = openblas_core().to_string();
    #[cfg(target_arch = "x86_64")]
    if avx512_kernel_runs::<F>() {
        let b = crate::panels::blocking::<F>();
        let replaces_fallback = is_fallback(&core, cpu_isa()).then_some(core);
        return GemmPath::Avx512 { blocking: (b.mc, b.kc, b.nc), replaces_fallback };
    }
    if gemm_crate_replaces_openblas() {
        return GemmPath::GemmCrate { core };
    }
    let fallback = is_fallback(&core, cpu_isa());
    GemmPath::OpenBlas { core, fallback }
}

/// Whether [`crate::gemm`] runs the large products (two rows and columns or more) of `F` on
/// this crate's blocked AVX-512 kernel, decided once per type and process. Only on a processor
/// with AVX-512F; then `f32` always (1.6–1.8× OpenBLAS's 256-bit kernels per core, about even
/// with its own AVX-512 ones on the training workloads' shapes, and its sums do not depend on
/// the thread count), `f64` only in place of an OpenBLAS fallback ([`is_fallback`]): OpenBLAS's
/// own AVX-512 `dgemm` measured faster than this kernel (docs/PERFORMANCE.md), its SSE3
/// fallback several times slower.
pub fn avx512_kernel_runs<F: crate::Float>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static F32: OnceLock<bool> = OnceLock::new();
        static F64: OnceLock<bool> = OnceLock::new();
        if F::NAME == "f32" {
            *F32.get_or_init(crate::gemm_avx512::available)
        } else {
            *F64.get_or_init(|| crate::gemm_avx512::available() && is_fallback(openblas_core(), cpu_isa()))
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether [`crate::gemm`] hands its products to the `gemm` crate instead of OpenBLAS, decided
/// once per process: when OpenBLAS runs kernels narrower than this processor's vectors
/// ([`is_fallback`] of [`openblas_core`] and [`cpu_isa`]) and the processor has AVX2 and FMA,
/// which the `gemm` crate's fast kernels need (below them it is scalar). Measured on an AVX2
/// machine, the crate is 3.6–5× faster than OpenBLAS's SSE3 kernels and 0.8–0.9× of OpenBLAS's
/// own AVX2 ones, hence only in place of a fallback (docs/PERFORMANCE.md).
pub fn gemm_crate_replaces_openblas() -> bool {
    static REPLACES: OnceLock<bool> = OnceLock::new();
    *REPLACES.get_or_init(|| is_fallback(openblas_core(), cpu_isa()) && has_avx2_fma())
}

fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_sizes_and_cpu_lists_parse() {
        assert_eq!(parse_size("32K\n"), Some(32 << 10));
        assert_eq!(parse_size("2048K"), Some(2 << 20));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("12Q"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(count_cpu_list("0-1\n"), Some(2));
        assert_eq!(count_cpu_list("0,2-3"), Some(3));
        assert_eq!(count_cpu_list("5"), Some(1));
        assert_eq!(count_cpu_list("3-1"), None);
        assert_eq!(count_cpu_list(""), None);
    }

    #[test]
    fn a_sysfs_cache_folder_is_read() {
        let dir = std::env::temp_dir().join(format!("backprop-cache-{}", std::process::id()));
        let index = |i: usize, level: &str, kind: &str, size: &str, shared: &str| {
            let d = dir.join(format!("index{i}"));
            std::fs::create_dir_all(&d).unwrap();
            for (name, text) in
                [("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)]
            {
                std::fs::write(d.join(name), format!("{text}\n")).unwrap();
            }
        };
        index(0, "1", "Data", "48K", "0");
        index(1, "1", "Instruction", "32K", "0");
        index(2, "2", "Unified", "2048K", "0");
        index(3, "3", "Unified", "105M", "0-1");
        let sizes = sysfs_caches(&dir).unwrap();
        assert_eq!(
            sizes,
            CacheSizes { l1d: 48 << 10, l2: 2 << 20, l3: 105 << 20, l3_sharing: 2, source: "sysfs" }
        );
        assert_eq!(sizes.l3_share(), 105 << 19);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(sysfs_caches(&dir), None);
    }

    #[test]
    fn this_machine_has_plausible_caches() {
        let sizes = cache_sizes();
        assert!((4 << 10..=4 << 20).contains(&sizes.l1d), "{sizes:?}");
        assert!(sizes.l2 >= sizes.l1d, "{sizes:?}");
    }

    #[test]
    fn the_model_name_is_the_first_one() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R45\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(parse_model_name(text).as_deref(), Some("AMD EPYC 9R45"));
        assert_eq!(parse_model_name("processor: 0\n"), None);
    }

    #[test]
    fn fallback_cores_are_recognised() {
        assert!(is_fallback("Prescott", VectorIsa::Avx512));
        assert!(is_fallback("Core2", VectorIsa::Avx2));
        assert!(is_fallback("Sandybridge", VectorIsa::Avx2));
        assert!(is_fallback("Haswell", VectorIsa::Avx512));
        assert!(!is_fallback("Haswell", VectorIsa::Avx2));
        assert!(!is_fallback("Zen", VectorIsa::Avx2));
        assert!(!is_fallback("SkylakeX", VectorIsa::Avx512));
        assert!(!is_fallback("Prescott", VectorIsa::Sse));
        // A name the table does not know is reported, not called a fallback.
        assert!(!is_fallback("Neoverse", VectorIsa::Avx512));
        assert_eq!(core_isa("COOPERLAKE"), Some(VectorIsa::Avx512));
    }

    #[test]
    fn openblas_names_its_kernels_and_each_type_its_path() {
        let core = openblas_core();
        assert!(!core.is_empty() && core != "unknown", "{core}");
        let fallback = is_fallback(core, cpu_isa());
        for (path, runs_ours) in [
            (gemm_path::<f32>(), avx512_kernel_runs::<f32>()),
            (gemm_path::<f64>(), avx512_kernel_runs::<f64>()),
        ] {
            // With AVX-512, f32 runs on backprop's kernel, and f64 in place of a fallback;
            // otherwise on OpenBLAS, unless its kernels are a fallback the gemm crate replaces
            // (e.g. under OPENBLAS_CORETYPE=Prescott on an AVX2 machine).
            match &path {
                GemmPath::Avx512 { replaces_fallback, .. } => {
                    assert!(runs_ours && crate::gemm_avx512::available(), "{path}");
                    assert_eq!(replaces_fallback.is_some(), fallback, "{path}");
                }
                GemmPath::GemmCrate { core: c } => {
                    assert!(!runs_ours && c == core && gemm_crate_replaces_openblas() && fallback);
                    assert!(path.to_string().contains(core), "{path}");
                }
                GemmPath::OpenBlas { core: c, .. } => {
                    assert!(!runs_ours && c == core && !gemm_crate_replaces_openblas());
                    assert!(path.to_string().contains(core), "{path}");
                }
            }
        }
        assert_eq!(avx512_kernel_runs::<f32>(), cpu_isa() == VectorIsa::Avx512);
        assert_eq!(avx512_kernel_runs::<f64>(), cpu_isa() == VectorIsa::Avx512 && fallback);
    }
}
