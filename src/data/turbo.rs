//! libjpeg-turbo's TurboJPEG API, loaded at run time, for decoding big JPEGs at 1/2, 1/4 or 1/8
//! size inside the decoder (its scaled IDCT, what Pillow's `Image.draft()` uses).
//!
//! Loaded with `libloading` rather than linked, so covergenre builds and runs where the library
//! is missing: [`library`] then returns `None` once, with a one-time message naming the fix, and
//! `data::decode` decodes at full size as before. Only the five calls needed are bound; their
//! signatures are TurboJPEG 2.x's (`turbojpeg.h`), stable since libjpeg-turbo 1.4.
//!
//! `COVERGENRE_TURBOJPEG` names the library file to load instead of the usual names;
//! `COVERGENRE_JPEG_SCALING` caps the reduction: `off` (full size, for comparisons), `2`, `4`
//! or `8` (the default).

use image::RgbImage;
use libloading::Library;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_uchar, c_ulong, c_void, CStr};
use std::sync::OnceLock;

/// Where Debian/Ubuntu (`libturbojpeg0`), Fedora and Homebrew put the library.
const LIBRARY_NAMES: [&str; 3] = [
    "libturbojpeg.so.0",
    "libturbojpeg.so",
    "libturbojpeg.0.dylib",
];

/// `TJPF_RGB`: 3 bytes per pixel, R G B.
const PIXEL_FORMAT_RGB: c_int = 0;
/// `TJFLAG_LIMITSCANS`: refuse progressive JPEGs with over 500 scans (a decoding-time bomb).
/// Versions before 2.1 ignore unknown flags.
const FLAG_LIMIT_SCANS: c_int = 32768;
/// `TJERR_WARNING`: the image was decoded, with a complaint (extra bytes, a bad marker).
const ERROR_WARNING: c_int = 0;

/// `TJCS_*` colour spaces that decode straight to RGB. CMYK and YCCK need an ink conversion
/// (and Adobe's inverted-CMYK convention) that the full-size decoder already handles.
const COLOURSPACE_RGB: c_int = 0;
const COLOURSPACE_YCBCR: c_int = 1;
const COLOURSPACE_GRAY: c_int = 2;

type Handle = *mut c_void;

/// The bound TurboJPEG functions; the `Library` keeps them loaded.
pub struct TurboJpeg {
    _library: Library,
    init_decompress: unsafe extern "C" fn() -> Handle,
    decompress_header: unsafe extern "C" fn(
        Handle,
        *const c_uchar,
        c_ulong,
        *mut c_int,
        *mut c_int,
        *mut c_int,
        *mut c_int,
    ) -> c_int,
    decompress: unsafe extern "C" fn(
        Handle,
        *const c_uchar,
        c_ulong,
        *mut c_uchar,
        c_int,
        c_int,
        c_int,
        c_int,
        c_int,
    ) -> c_int,
    destroy: unsafe extern "C" fn(Handle) -> c_int,
    error_text: unsafe extern "C" fn(Handle) -> *mut c_char,
    error_code: unsafe extern "C" fn(Handle) -> c_int,
}

/// A JPEG's size and colour space, read from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
    /// True when the colour space decodes straight to RGB (YCbCr, RGB, grey).
    pub rgb_decodable: bool,
}

/// The loaded library, or `None` (told once on stderr) when it is missing or turned off.
pub fn library() -> Option<&'static TurboJpeg> {
    static LIBRARY: OnceLock<Option<TurboJpeg>> = OnceLock::new();
    LIBRARY.get_or_init(load_or_explain).as_ref()
}

/// The largest reduction allowed: 1 (off), 2, 4 or 8 (the default, also for values not
/// understood) from `COVERGENRE_JPEG_SCALING`.
pub fn largest_reduction() -> u32 {
    static LARGEST: OnceLock<u32> = OnceLock::new();
    *LARGEST.get_or_init(
        || match std::env::var("COVERGENRE_JPEG_SCALING").as_deref() {
            Ok("off" | "OFF" | "1") => 1,
            Ok("2") => 2,
            Ok("4") => 4,
            _ => 8,
        },
    )
}

fn load_or_explain() -> Option<TurboJpeg> {
    if largest_reduction() == 1 {
        return None;
    }
    let names: Vec<String> = match std::env::var("COVERGENRE_TURBOJPEG") {
        Ok(path) if !path.is_empty() => vec![path],
        _ => LIBRARY_NAMES.iter().map(|n| n.to_string()).collect(),
    };
    let mut reasons = Vec::new();
    for name in &names {
        match TurboJpeg::load(name) {
            Ok(library) => return Some(library),
            Err(reason) => reasons.push(format!("{name}: {reason}")),
        }
    }
    eprintln!(
        "covergenre: libjpeg-turbo's TurboJPEG library was not found ({}); big JPEG covers are \
         decoded at full size, which is slower. Install it with `scripts/setup.sh --classify` \
         (or `apt-get install libturbojpeg0`).",
        reasons.join("; ")
    );
    None
}

impl TurboJpeg {
    fn load(name: &str) -> Result<Self, libloading::Error> {
        // SAFETY: loading runs the library's initialisers; libjpeg-turbo's have no side effects.
        // Each symbol is bound to the signature turbojpeg.h declares for it.
        unsafe {
            let library = Library::new(name)?;
            Ok(Self {
                init_decompress: *library.get("tjInitDecompress")?,
                decompress_header: *library.get("tjDecompressHeader3")?,
                decompress: *library.get("tjDecompress2")?,
                destroy: *library.get("tjDestroy")?,
                error_text: *library.get("tjGetErrorStr2")?,
                error_code: *library.get("tjGetErrorCode")?,
                _library: library,
            })
        }
    }

    /// The header of `jpeg`, without decoding any pixels.
    pub fn header(&self, jpeg: &[u8]) -> Result<Header, String> {
        self.with_handle(|handle| {
            let (mut width, mut height, mut subsampling, mut colourspace) = (0, 0, 0, 0);
            // SAFETY: the handle is live, the buffer is `jpeg.len()` bytes, outputs are locals.
            let status = unsafe {
                (self.decompress_header)(
                    handle,
                    jpeg.as_ptr(),
                    jpeg.len() as c_ulong,
                    &mut width,
                    &mut height,
                    &mut subsampling,
                    &mut colourspace,
                )
            };
            if status != 0 {
                return Err(self.error(handle));
            }
            Ok(Header {
                width: u32::try_from(width).map_err(|_| "negative width".to_string())?,
                height: u32::try_from(height).map_err(|_| "negative height".to_string())?,
                rgb_decodable: matches!(
                    colourspace,
                    COLOURSPACE_RGB | COLOURSPACE_YCBCR | COLOURSPACE_GRAY
                ),
            })
        })
    }

    /// Decodes `jpeg` at 1/`denominator` of `header`'s size (rounded up, as libjpeg does).
    /// The caller has checked the header's size against its limits.
    pub fn decode_scaled(
        &self,
        jpeg: &[u8],
        header: &Header,
        denominator: u32,
    ) -> Result<RgbImage, String> {
        let width = header.width.div_ceil(denominator);
        let height = header.height.div_ceil(denominator);
        let mut pixels = vec![0u8; width as usize * height as usize * 3];
        self.with_handle(|handle| {
            // SAFETY: `pixels` holds width * height RGB pixels, the size TurboJPEG writes for
            // this scaling factor with pitch 0 (= width * 3); the handle is live.
            let status = unsafe {
                (self.decompress)(
                    handle,
                    jpeg.as_ptr(),
                    jpeg.len() as c_ulong,
                    pixels.as_mut_ptr(),
                    width as c_int,
                    0,
                    height as c_int,
                    PIXEL_FORMAT_RGB,
                    FLAG_LIMIT_SCANS,
                )
            };
            // A warning (stray bytes, an odd marker) still leaves a whole image, as other
            // decoders accept; truncated files were refused before this.
            // SAFETY: the handle is live.
            if status != 0 && unsafe { (self.error_code)(handle) } != ERROR_WARNING {
                return Err(self.error(handle));
            }
            Ok(())
        })?;
        RgbImage::from_raw(width, height, pixels).ok_or_else(|| "short pixel buffer".into())
    }

    fn error(&self, handle: Handle) -> String {
        // SAFETY: the handle is live; the text is a NUL-terminated string owned by it.
        unsafe { CStr::from_ptr((self.error_text)(handle)) }
            .to_string_lossy()
            .into_owned()
    }

    /// Runs `work` with this thread's decompressor, made on first use.
    fn with_handle<T>(&self, work: impl FnOnce(Handle) -> Result<T, String>) -> Result<T, String> {
        thread_local! {
            static HANDLE: RefCell<Option<ThreadHandle>> = const { RefCell::new(None) };
        }
        HANDLE.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                // SAFETY: tjInitDecompress takes no arguments; null means it failed.
                let handle = unsafe { (self.init_decompress)() };
                if handle.is_null() {
                    return Err("TurboJPEG could not make a decompressor".into());
                }
                *slot = Some(ThreadHandle {
                    handle,
                    destroy: self.destroy,
                });
            }
            let handle = slot.as_ref().map(|h| h.handle).expect("set above");
            work(handle)
        })
    }
}

/// A decompressor owned by one thread, freed when the thread ends. The library it came from
/// lives in a static, so it outlasts every thread.
struct ThreadHandle {
    handle: Handle,
    destroy: unsafe extern "C" fn(Handle) -> c_int,
}

impl Drop for ThreadHandle {
    fn drop(&mut self) {
        // SAFETY: made by tjInitDecompress and destroyed once, here.
        unsafe { (self.destroy)(self.handle) };
    }
}
