//! Hand-written audio files with album art in their tags: a FLAC stream (STREAMINFO, PICTURE,
//! then audio bytes) and an MP3 (ID3v2.3 tag with an APIC frame, then silent MPEG frames), with
//! as much audio after the tags as a test asks for, to check that tags are read without the audio.

/// A FLAC stream: STREAMINFO, then a PICTURE block when `picture` is given, then `audio_bytes`
/// of frame data (a repeated made-up frame: tag readers must not look at it).
pub fn flac_with_picture(picture: Option<&[u8]>, audio_bytes: usize) -> Vec<u8> {
    let mut flac = b"fLaC".to_vec();
    let block = |last: bool, kind: u8, body: &[u8], out: &mut Vec<u8>| {
        out.push(if last { 0x80 } else { 0 } | kind);
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(body);
    };
    // 4096-sample blocks, 44.1 kHz, 2 channels, 16 bits, no samples, no MD5.
    let mut streaminfo = vec![0x10, 0x00, 0x10, 0x00, 0, 0, 0, 0, 0, 0];
    streaminfo.extend_from_slice(&[0x0A, 0xC4, 0x42, 0xF0, 0, 0, 0, 0]);
    streaminfo.extend_from_slice(&[0; 16]);
    block(picture.is_none(), 0, &streaminfo, &mut flac);
    if let Some(data) = picture {
        let mut body = Vec::new();
        body.extend_from_slice(&3u32.to_be_bytes()); // front cover
        body.extend_from_slice(&9u32.to_be_bytes());
        body.extend_from_slice(b"image/png");
        body.extend_from_slice(&0u32.to_be_bytes()); // no description
        body.extend_from_slice(&[0; 16]); // width, height, depth, colours unknown
        body.extend_from_slice(&(data.len() as u32).to_be_bytes());
        body.extend_from_slice(data);
        block(true, 6, &body, &mut flac);
    }
    // Frame sync code (0xFFF8), then filler, repeated.
    let frame: Vec<u8> = [0xFF, 0xF8, 0x69, 0x18]
        .into_iter()
        .chain((0..4092).map(|i| (i * 7 % 251) as u8))
        .collect();
    flac.extend(frame.iter().cycle().take(audio_bytes));
    flac
}

/// An ID3v2.3 tag holding one APIC (front cover) frame, then `mpeg_frames` silent MPEG-1
/// Layer III frames (128 kbit/s, 44.1 kHz: 417 bytes each, about 2.4 MB a minute).
pub fn mp3_with_picture(data: &[u8], mpeg_frames: usize) -> Vec<u8> {
    let mut frame = vec![0u8]; // ISO-8859-1 text
    frame.extend_from_slice(b"image/png\0");
    frame.push(3); // front cover
    frame.push(0); // empty description
    frame.extend_from_slice(data);
    let mut tag_body = b"APIC".to_vec();
    tag_body.extend_from_slice(&(frame.len() as u32).to_be_bytes());
    tag_body.extend_from_slice(&[0, 0]);
    tag_body.extend_from_slice(&frame);
    let size = tag_body.len() as u32;
    let syncsafe = [
        (size >> 21) & 0x7f,
        (size >> 14) & 0x7f,
        (size >> 7) & 0x7f,
        size & 0x7f,
    ];
    let mut mp3 = b"ID3\x03\x00\x00".to_vec();
    mp3.extend(syncsafe.map(|b| b as u8));
    mp3.extend_from_slice(&tag_body);
    let mut mpeg = vec![0xFF, 0xFB, 0x90, 0x00];
    mpeg.resize(417, 0);
    for _ in 0..mpeg_frames {
        mp3.extend_from_slice(&mpeg);
    }
    mp3
}
