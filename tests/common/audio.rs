//! Made-up audio files with real audio frames and tags, written byte by byte so the tests do
//! not depend on the tag writer they check: MP3 (ID3v2.3 + silent MPEG-1 Layer III frames),
//! FLAC (STREAMINFO, VORBIS_COMMENT, PICTURE, CONSTANT-subframe frames with their CRCs),
//! Ogg Opus (OpusHead, OpusTags with a METADATA_BLOCK_PICTURE, silent Opus packets, page
//! CRCs) and M4A (an AAC-LC track of silent frames, `ilst` metadata with a `covr` picture).

/// What a made-up track carries.
#[derive(Debug, Clone, Default)]
pub struct Track {
    pub title: String,
    pub artist: String,
    /// Genre values (several: a multi-valued genre, as beets 2.7+ writes one).
    pub genres: Vec<String>,
    /// PNG bytes of an embedded front cover.
    pub picture: Option<Vec<u8>>,
    /// MP3 only: an ID3v2.4 tag instead of ID3v2.3.
    pub id3v24: bool,
    /// The album artist (`TPE2`, `ALBUMARTIST`, `aART`), when given.
    pub album_artist: Option<String>,
    /// Flagged as part of a compilation (`TCMP`, `COMPILATION`, `cpil`).
    pub compilation: bool,
}

impl Track {
    /// A track with no picture.
    pub fn titled(title: &str) -> Self {
        Self::new(title, None)
    }

    pub fn new(title: &str, picture: Option<Vec<u8>>) -> Self {
        Self {
            title: title.into(),
            artist: "Made-up Artist".into(),
            genres: Vec::new(),
            picture,
            id3v24: false,
            album_artist: None,
            compilation: false,
        }
    }

    /// The track's artist (an empty one is written empty).
    pub fn by(mut self, artist: &str) -> Self {
        self.artist = artist.into();
        self
    }

    /// The album artist.
    pub fn album_by(mut self, album_artist: &str) -> Self {
        self.album_artist = Some(album_artist.into());
        self
    }

    /// Flagged as part of a compilation.
    pub fn in_compilation(mut self) -> Self {
        self.compilation = true;
        self
    }

    /// Adds a genre value (call again for a multi-valued genre).
    pub fn with_genre(mut self, genre: &str) -> Self {
        self.genres.push(genre.into());
        self
    }

    /// An MP3 written with an ID3v2.4 tag.
    pub fn id3v24(mut self) -> Self {
        self.id3v24 = true;
        self
    }
}

// ---- MP3 ----

fn syncsafe(size: u32) -> [u8; 4] {
    [size >> 21, size >> 14, size >> 7, size].map(|b| (b & 0x7f) as u8)
}

/// An ID3v2 frame: v2.3 gives its size as a plain number, v2.4 syncsafe.
fn id3_frame(v24: bool, id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut frame = id.to_vec();
    let size = body.len() as u32;
    frame.extend_from_slice(&if v24 {
        syncsafe(size)
    } else {
        size.to_be_bytes()
    });
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(body);
    frame
}

/// A text frame of `values`: v2.4 separates them with nulls, v2.3 (one value) holds one.
fn id3_text(v24: bool, id: &[u8; 4], values: &[String]) -> Vec<u8> {
    let mut body = vec![0u8]; // ISO-8859-1
    body.extend_from_slice(values.join("\0").as_bytes());
    id3_frame(v24, id, &body)
}

/// An ID3v2.3 tag, or v2.4 with [`Track::id3v24`] (TIT2, TPE1, TCON when a genre is given,
/// APIC when a picture is), then eight silent MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz:
/// 417 bytes each).
pub fn mp3(track: &Track) -> Vec<u8> {
    mp3_of_frames(track, 8)
}

/// [`mp3`] with `mpeg_frames` silent frames (about 2.4 MB a minute), so tests can check that
/// tags are read without the audio.
fn mp3_of_frames(track: &Track, mpeg_frames: usize) -> Vec<u8> {
    let v24 = track.id3v24;
    assert!(
        v24 || track.genres.len() <= 1,
        "an ID3v2.3 tag holds one genre value"
    );
    let mut body = id3_text(v24, b"TIT2", std::slice::from_ref(&track.title));
    body.extend(id3_text(v24, b"TPE1", std::slice::from_ref(&track.artist)));
    if let Some(album_artist) = &track.album_artist {
        body.extend(id3_text(v24, b"TPE2", std::slice::from_ref(album_artist)));
    }
    if track.compilation {
        body.extend(id3_text(v24, b"TCMP", &["1".to_string()]));
    }
    if !track.genres.is_empty() {
        body.extend(id3_text(v24, b"TCON", &track.genres));
    }
    if let Some(data) = &track.picture {
        let mut apic = vec![0u8];
        apic.extend_from_slice(b"image/png\0");
        apic.push(3); // front cover
        apic.push(0); // empty description
        apic.extend_from_slice(data);
        body.extend(id3_frame(v24, b"APIC", &apic));
    }
    let mut mp3 = if v24 {
        b"ID3\x04\x00\x00"
    } else {
        b"ID3\x03\x00\x00"
    }
    .to_vec();
    mp3.extend(syncsafe(body.len() as u32));
    mp3.extend_from_slice(&body);
    for _ in 0..mpeg_frames {
        let mut mpeg = vec![0xFF, 0xFB, 0x90, 0x00];
        mpeg.resize(417, 0);
        mp3.extend_from_slice(&mpeg);
    }
    mp3
}

/// An MP3 with only a picture in its tag, then `mpeg_frames` silent frames.
pub fn mp3_with_picture(data: &[u8], mpeg_frames: usize) -> Vec<u8> {
    let mut track = Track::new("", Some(data.to_vec()));
    track.artist.clear();
    mp3_of_frames(&track, mpeg_frames)
}

// ---- FLAC ----

fn flac_block(last: bool, kind: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(if last { 0x80 } else { 0 } | kind);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(body);
}

/// The body of a FLAC PICTURE block (also the content of Ogg's METADATA_BLOCK_PICTURE).
pub fn flac_picture_body(png: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&3u32.to_be_bytes()); // front cover
    body.extend_from_slice(&9u32.to_be_bytes());
    body.extend_from_slice(b"image/png");
    body.extend_from_slice(&0u32.to_be_bytes()); // no description
    body.extend_from_slice(&[0; 16]); // width, height, depth, colours unknown
    body.extend_from_slice(&(png.len() as u32).to_be_bytes());
    body.extend_from_slice(png);
    body
}

/// A Vorbis comment packet body: vendor, then `KEY=value` items.
fn vorbis_comments(track: &Track, extra: &[(String, String)]) -> Vec<u8> {
    let mut items: Vec<String> = vec![
        format!("TITLE={}", track.title),
        format!("ARTIST={}", track.artist),
    ];
    for genre in &track.genres {
        items.push(format!("GENRE={genre}"));
    }
    if let Some(album_artist) = &track.album_artist {
        items.push(format!("ALBUMARTIST={album_artist}"));
    }
    if track.compilation {
        items.push("COMPILATION=1".into());
    }
    items.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
    let vendor = b"covergenre tests";
    let mut body = (vendor.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(vendor);
    body.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for item in items {
        body.extend_from_slice(&(item.len() as u32).to_le_bytes());
        body.extend_from_slice(item.as_bytes());
    }
    body
}

const FLAC_BLOCK_SIZE: u64 = 192;
const FLAC_FRAMES: u64 = 6;

/// FLAC: STREAMINFO, VORBIS_COMMENT, PICTURE (if any), then six 192-sample stereo frames of
/// CONSTANT subframes (a slowly changing level, so frames differ).
pub fn flac(track: &Track) -> Vec<u8> {
    let mut flac = b"fLaC".to_vec();
    let mut streaminfo = Vec::new();
    streaminfo.extend_from_slice(&(FLAC_BLOCK_SIZE as u16).to_be_bytes());
    streaminfo.extend_from_slice(&(FLAC_BLOCK_SIZE as u16).to_be_bytes());
    streaminfo.extend_from_slice(&[0; 6]); // frame sizes unknown
    let packed: u64 = (44_100 << 44) | (1 << 41) | (15 << 36) | (FLAC_BLOCK_SIZE * FLAC_FRAMES);
    streaminfo.extend_from_slice(&packed.to_be_bytes());
    streaminfo.extend_from_slice(&[0; 16]); // no MD5
    flac_block(false, 0, &streaminfo, &mut flac);
    let comments = vorbis_comments(track, &[]);
    flac_block(track.picture.is_none(), 4, &comments, &mut flac);
    if let Some(png) = &track.picture {
        flac_block(true, 6, &flac_picture_body(png), &mut flac);
    }
    for n in 0..FLAC_FRAMES {
        flac.extend(flac_frame(n as u8, (n as i16) * 100));
    }
    flac
}

/// A FLAC whose only metadata may be a picture, with `audio_bytes` more of frame-like data
/// after its real frames (a repeated made-up frame: tag readers must not look at it), so tests
/// can check that tags are read without the audio.
pub fn flac_with_picture(picture: Option<&[u8]>, audio_bytes: usize) -> Vec<u8> {
    let mut flac = flac(&Track::new("", picture.map(<[u8]>::to_vec)));
    let filler: Vec<u8> = [0xFF, 0xF8, 0x69, 0x18]
        .into_iter()
        .chain((0..4092).map(|i| (i * 7 % 251) as u8))
        .collect();
    flac.extend(filler.iter().cycle().take(audio_bytes));
    flac
}

fn flac_frame(number: u8, level: i16) -> Vec<u8> {
    assert!(number < 128, "one-byte frame numbers only");
    // Sync + fixed blocking; 192 samples, 44.1 kHz; L/R stereo, 16 bits; frame number.
    let mut frame = vec![0xFF, 0xF8, 0x19, 0x18, number];
    frame.push(crc8(&frame));
    for _ in 0..2 {
        frame.push(0x00); // CONSTANT subframe, no wasted bits
        frame.extend_from_slice(&level.to_be_bytes());
    }
    let crc = crc16(&frame);
    frame.extend_from_slice(&crc.to_be_bytes());
    frame
}

fn crc8(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |mut crc, &b| {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
        crc
    })
}

fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |mut crc, &b| {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
        crc
    })
}

// ---- Ogg Opus ----

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn ogg_crc(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |mut crc, &b| {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
        crc
    })
}

/// One Ogg page holding whole packets.
fn ogg_page(packets: &[&[u8]], flags: u8, granule: u64, sequence: u32) -> Vec<u8> {
    let mut lacing = Vec::new();
    for packet in packets {
        lacing.extend(std::iter::repeat_n(255u8, packet.len() / 255));
        lacing.push((packet.len() % 255) as u8);
    }
    assert!(lacing.len() <= 255, "packets too big for one page");
    let mut page = b"OggS\0".to_vec();
    page.push(flags);
    page.extend_from_slice(&granule.to_le_bytes());
    page.extend_from_slice(&0x00C0_FFEEu32.to_le_bytes()); // stream serial number
    page.extend_from_slice(&sequence.to_le_bytes());
    page.extend_from_slice(&[0; 4]); // CRC, filled below
    page.push(lacing.len() as u8);
    page.extend_from_slice(&lacing);
    for packet in packets {
        page.extend_from_slice(packet);
    }
    let crc = ogg_crc(&page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

/// Ogg Opus: OpusHead, OpusTags (with the picture as METADATA_BLOCK_PICTURE), then three
/// pages of silent 20 ms stereo CELT packets.
pub fn opus(track: &Track) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, 2]); // version 1, 2 channels
    head.extend_from_slice(&312u16.to_le_bytes()); // pre-skip
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]); // gain 0, channel mapping family 0
    let extra: Vec<(String, String)> = track
        .picture
        .iter()
        .map(|png| {
            (
                "METADATA_BLOCK_PICTURE".to_string(),
                base64(&flac_picture_body(png)),
            )
        })
        .collect();
    let mut tags = b"OpusTags".to_vec();
    tags.extend(vorbis_comments(track, &extra));
    let mut ogg = ogg_page(&[&head], 0x02, 0, 0);
    ogg.extend(ogg_page(&[&tags], 0x00, 0, 1));
    let silence: &[u8] = &[0xFC, 0xFF, 0xFE];
    for page in 0..3u32 {
        let granule = u64::from(page + 1) * 10 * 960;
        let flags = if page == 2 { 0x04 } else { 0x00 };
        ogg.extend(ogg_page(&[silence; 10], flags, granule, page + 2));
    }
    ogg
}

// ---- M4A ----

fn atom(kind: &[u8; 4], children: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = children.concat();
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend(body);
    out
}

fn full(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut content = vec![0u8; 4]; // version 0, no flags
    content.extend_from_slice(body);
    atom(kind, &[content])
}

fn ilst_item(kind: &[u8; 4], data_type: u32, payload: &[u8]) -> Vec<u8> {
    ilst_item_of(kind, data_type, &[payload])
}

/// An ilst item with one `data` atom per value (a multi-valued item).
fn ilst_item_of(kind: &[u8; 4], data_type: u32, payloads: &[&[u8]]) -> Vec<u8> {
    let datas: Vec<Vec<u8>> = payloads
        .iter()
        .map(|payload| {
            let mut data = data_type.to_be_bytes().to_vec();
            data.extend_from_slice(&[0; 4]); // locale
            data.extend_from_slice(payload);
            atom(b"data", &[data])
        })
        .collect();
    atom(kind, &datas)
}

/// A silent AAC-LC stereo raw frame.
const AAC_SILENCE: [u8; 6] = [0x21, 0x10, 0x04, 0x60, 0x8C, 0x1C];
const M4A_SAMPLES: u32 = 12;

/// M4A: ftyp, moov (one AAC-LC track: mvhd, tkhd, mdhd, hdlr, stsd with esds, stts, stsc,
/// stsz, stco; udta/meta/ilst with ©nam, ©ART, ©gen if any, covr if any), then mdat.
pub fn m4a(track: &Track) -> Vec<u8> {
    let ftyp = atom(b"ftyp", &[b"M4A \0\0\0\0M4A mp42isom".to_vec()]);
    let build_moov = |chunk_offset: u32| {
        let mut mvhd = Vec::new();
        mvhd.extend_from_slice(&[0; 8]); // created, modified
        mvhd.extend_from_slice(&44_100u32.to_be_bytes());
        mvhd.extend_from_slice(&(M4A_SAMPLES * 1024).to_be_bytes());
        mvhd.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
        mvhd.extend_from_slice(&0x0100u16.to_be_bytes()); // volume 1.0
        mvhd.extend_from_slice(&[0; 10]);
        mvhd.extend(unity_matrix());
        mvhd.extend_from_slice(&[0; 24]);
        mvhd.extend_from_slice(&2u32.to_be_bytes()); // next track id
        let mut tkhd = vec![0, 0, 0, 7]; // version 0, enabled | in movie | in preview
        tkhd.extend_from_slice(&[0; 8]);
        tkhd.extend_from_slice(&1u32.to_be_bytes()); // track id
        tkhd.extend_from_slice(&[0; 4]);
        tkhd.extend_from_slice(&(M4A_SAMPLES * 1024).to_be_bytes());
        tkhd.extend_from_slice(&[0; 8]);
        tkhd.extend_from_slice(&[0, 0, 0, 0, 0x01, 0x00, 0, 0]); // layer, group, volume 1.0
        tkhd.extend(unity_matrix());
        tkhd.extend_from_slice(&[0; 8]); // width, height
        let mut mdhd = vec![0; 8];
        mdhd.extend_from_slice(&44_100u32.to_be_bytes());
        mdhd.extend_from_slice(&(M4A_SAMPLES * 1024).to_be_bytes());
        mdhd.extend_from_slice(&[0x55, 0xC4, 0, 0]); // language "und"
        let mut hdlr = vec![0; 4];
        hdlr.extend_from_slice(b"soun");
        hdlr.extend_from_slice(&[0; 13]);
        let esds = full(
            b"esds",
            &[
                0x03, 25, 0, 1, 0, // ES descriptor, ES id 1
                0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0xFA, 0, 0, 0, 0xFA, 0, // MPEG-4 audio
                0x05, 2, 0x12, 0x10, // AAC-LC, 44.1 kHz, stereo
                0x06, 1, 2,
            ],
        );
        let mut mp4a = vec![0; 6];
        mp4a.extend_from_slice(&1u16.to_be_bytes()); // data reference index
        mp4a.extend_from_slice(&[0; 8]);
        mp4a.extend_from_slice(&2u16.to_be_bytes());
        mp4a.extend_from_slice(&16u16.to_be_bytes());
        mp4a.extend_from_slice(&[0; 4]);
        mp4a.extend_from_slice(&(44_100u32 << 16).to_be_bytes());
        let mut stsd = 1u32.to_be_bytes().to_vec();
        stsd.extend(atom(b"mp4a", &[mp4a, esds]));
        let pairs = |values: &[u32]| {
            values
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect::<Vec<u8>>()
        };
        let mut stsz = pairs(&[0, M4A_SAMPLES]);
        stsz.extend(pairs(&vec![AAC_SILENCE.len() as u32; M4A_SAMPLES as usize]));
        let stbl = atom(
            b"stbl",
            &[
                full(b"stsd", &stsd),
                full(b"stts", &pairs(&[1, M4A_SAMPLES, 1024])),
                full(b"stsc", &pairs(&[1, 1, M4A_SAMPLES, 1])),
                full(b"stsz", &stsz),
                full(b"stco", &pairs(&[1, chunk_offset])),
            ],
        );
        let minf = atom(b"minf", &[full(b"smhd", &[0; 4]), stbl]);
        let mdia = atom(b"mdia", &[full(b"mdhd", &mdhd), full(b"hdlr", &hdlr), minf]);
        let trak = atom(b"trak", &[atom(b"tkhd", &[tkhd]), mdia]);
        let mut items = vec![
            ilst_item(b"\xa9nam", 1, track.title.as_bytes()),
            ilst_item(b"\xa9ART", 1, track.artist.as_bytes()),
        ];
        if !track.genres.is_empty() {
            let values: Vec<&[u8]> = track.genres.iter().map(|g| g.as_bytes()).collect();
            items.push(ilst_item_of(b"\xa9gen", 1, &values));
        }
        if let Some(album_artist) = &track.album_artist {
            items.push(ilst_item(b"aART", 1, album_artist.as_bytes()));
        }
        if track.compilation {
            items.push(ilst_item(b"cpil", 21, &[1]));
        }
        if let Some(png) = &track.picture {
            items.push(ilst_item(b"covr", 14, png));
        }
        let mut meta_hdlr = vec![0; 4];
        meta_hdlr.extend_from_slice(b"mdirappl");
        meta_hdlr.extend_from_slice(&[0; 9]);
        let mut meta = vec![0u8; 4];
        meta.extend(full(b"hdlr", &meta_hdlr));
        meta.extend(atom(b"ilst", &items));
        let udta = atom(b"udta", &[atom(b"meta", &[meta])]);
        atom(b"moov", &[full(b"mvhd", &mvhd), trak, udta])
    };
    let moov_len = build_moov(0).len();
    let chunk_offset = (ftyp.len() + moov_len + 8) as u32;
    let mut m4a = ftyp;
    m4a.extend(build_moov(chunk_offset));
    m4a.extend(atom(b"mdat", &[AAC_SILENCE.repeat(M4A_SAMPLES as usize)]));
    m4a
}

fn unity_matrix() -> Vec<u8> {
    [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}
