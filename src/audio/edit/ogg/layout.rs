//! Laying the comment header's segments out in pages again after the comment packet changed
//! size: in as many pages as before whenever they can hold it (a page holds 255 segments),
//! so the pages after them keep their sequence numbers.
//!
//! Each old page is replaced by the pages laid out in its place: one, in all but rare cases;
//! several when the segments no longer fit (the page that held the comment's end is split);
//! none when there are fewer segments than pages. The change of size goes to the page the
//! comment packet ends on, then to the pages after it (the rest of the headers), then to
//! those before it.

use super::pages::{Page, CONTINUED, FIRST, LAST, NO_GRANULE};
use anyhow::{bail, Result};
use std::iter::once;
use std::ops::Range;

/// The most segments a page holds.
const MAX_SEGMENTS: usize = 255;

/// The segment counts of the pages replacing each old page: `old[i]` segments were on page
/// `i`; `total` segments are laid out now; `changed` is the page the comment ended on.
pub(super) fn counts(old: &[usize], changed: usize, total: usize) -> Vec<Vec<usize>> {
    let mut counts = old.to_vec();
    let sum: usize = old.iter().sum();
    let order = once(changed)
        .chain(changed + 1..old.len())
        .chain((0..changed).rev());
    if total >= sum {
        let mut excess = total - sum;
        for i in order {
            let take = (MAX_SEGMENTS - counts[i].min(MAX_SEGMENTS)).min(excess);
            counts[i] += take;
            excess -= take;
        }
        let mut laid: Vec<Vec<usize>> = counts.into_iter().map(|n| vec![n]).collect();
        while excess > 0 {
            let take = excess.min(MAX_SEGMENTS);
            laid[changed].push(take);
            excess -= take;
        }
        laid
    } else {
        let mut deficit = sum - total;
        for i in order.clone() {
            let give = counts[i].saturating_sub(1).min(deficit);
            counts[i] -= give;
            deficit -= give;
        }
        let mut laid: Vec<Vec<usize>> = counts.into_iter().map(|n| vec![n]).collect();
        // Fewer segments than pages: pages of one segment go.
        for i in order {
            if deficit > 0 && laid[i] == [1] {
                laid[i].clear();
                deficit -= 1;
            }
        }
        laid
    }
}

/// The new pages, and for each old page the range of new pages replacing it.
pub(super) struct Laid {
    pub pages: Vec<(Page, Vec<u8>)>,
    pub replacing: Vec<Range<usize>>,
}

impl Laid {
    /// How many pages more than before (fewer: negative).
    pub fn added(&self) -> i64 {
        self.pages.len() as i64 - self.replacing.len() as i64
    }
}

/// Lays `lacing` (segments) and `body` (their bytes) out in pages replacing `old`, the
/// comment having ended on page `changed`. Flags, granule positions and sequence numbers
/// follow the old pages: a page keeps its granule position while the last packet ending on
/// it is the same; a page on which no packet ends any more gets none; one on which a header
/// packet ends now gets 0, as header pages have (a packet of audio never moves to another
/// page: an edit that would move one is refused).
pub(super) fn lay_out(old: &[Page], changed: usize, lacing: &[u8], body: &[u8]) -> Result<Laid> {
    let old_counts: Vec<usize> = old.iter().map(|p| p.lacing.len()).collect();
    let old_lacing: Vec<u8> = old.iter().flat_map(|p| p.lacing.iter().copied()).collect();
    let old_ends = last_ends(&old_lacing, &old_counts);
    let laid = counts(&old_counts, changed, lacing.len());
    let flat: Vec<usize> = laid.iter().flatten().copied().collect();
    let new_ends = last_ends(lacing, &flat);
    // The old page each packet ended on.
    let mut ended_on = Vec::new();
    let mut segment = 0;
    for (i, page) in old.iter().enumerate() {
        for &l in &page.lacing {
            if l < 255 {
                ended_on.push(i);
            }
            segment += 1;
        }
    }
    debug_assert_eq!(segment, old_lacing.len());

    let mut pages = Vec::new();
    let mut replacing = Vec::new();
    let (mut segment, mut byte, mut shift) = (0, 0, 0u32);
    let mut open = old[0].flags & CONTINUED != 0;
    for (i, (old_page, pieces)) in old.iter().zip(&laid).enumerate() {
        let first_new = pages.len();
        for (piece, &count) in pieces.iter().enumerate() {
            let n = pages.len();
            let page_lacing = lacing[segment..segment + count].to_vec();
            let len: usize = page_lacing.iter().map(|&l| usize::from(l)).sum();
            let granule = match new_ends[n] {
                None if piece == 0 && old_ends[i].is_none() => old_page.granule,
                None => NO_GRANULE,
                Some(packet) => {
                    let was = ended_on[packet];
                    if old_ends[was] == Some(packet) {
                        old[was].granule
                    } else if old[was].granule == 0 {
                        0
                    } else {
                        bail!(
                            "the Ogg page at byte {} holds audio after the headers, which \
                             would move to another page",
                            old[was].offset
                        );
                    }
                }
            };
            let mut flags = if open { CONTINUED } else { 0 };
            if piece == 0 {
                flags |= old_page.flags & FIRST;
            }
            if piece + 1 == pieces.len() {
                flags |= old_page.flags & LAST;
            }
            let page = Page {
                offset: 0,
                flags,
                granule,
                serial: old_page.serial,
                sequence: old_page.sequence.wrapping_add(shift + piece as u32),
                crc: 0,
                lacing: page_lacing,
            };
            if let Some(&l) = page.lacing.last() {
                open = l == 255;
            }
            pages.push((page, body[byte..byte + len].to_vec()));
            segment += count;
            byte += len;
        }
        shift = shift.wrapping_add(pieces.len() as u32).wrapping_sub(1);
        replacing.push(first_new..pages.len());
    }
    debug_assert_eq!((segment, byte), (lacing.len(), body.len()));
    Ok(Laid { pages, replacing })
}

/// For each page of `counts` segments of `lacing`, the number of the last packet ending on
/// it (packets counted from the first segment), if one does.
fn last_ends(lacing: &[u8], counts: &[usize]) -> Vec<Option<usize>> {
    let mut ends = Vec::with_capacity(counts.len());
    let (mut segment, mut packets) = (0, 0);
    for &count in counts {
        let mut last = None;
        for &l in &lacing[segment..segment + count] {
            if l < 255 {
                last = Some(packets);
                packets += 1;
            }
        }
        ends.push(last);
        segment += count;
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_change_goes_to_the_comment_s_last_page_then_after_then_before() {
        assert_eq!(counts(&[17, 17, 5], 1, 39 + 3), [[17], [20], [5]]);
        assert_eq!(counts(&[255, 250, 20], 1, 525 + 10), [[255], [255], [25]]);
        assert_eq!(
            counts(&[200, 250, 20], 1, 470 + 300),
            [vec![255], vec![255, 5], vec![255]],
            "no room left: the comment's page is split"
        );
        assert_eq!(counts(&[17, 17, 5], 1, 39 - 20), [[17], [1], [1]]);
        assert_eq!(counts(&[1, 1, 1], 1, 2), [vec![1], vec![], vec![1]]);
        assert_eq!(counts(&[3], 0, 3), [[3]]);
    }

    fn header_page(sequence: u32, lacing: Vec<u8>, granule: u64) -> Page {
        Page {
            offset: 100 * u64::from(sequence),
            flags: 0,
            granule,
            serial: 9,
            sequence,
            crc: 0,
            lacing,
        }
    }

    /// The lacing of a comment of `segments` full segments and 10 bytes, then the setup's
    /// 30 bytes and `more` further packets of 40 bytes.
    fn lacing(segments: usize, more: usize) -> (Vec<u8>, Vec<u8>) {
        let mut lacing = vec![255; segments];
        lacing.extend([10, 30]);
        lacing.extend(vec![40; more]);
        let body = vec![7; lacing.iter().map(|&l| usize::from(l)).sum()];
        (lacing, body)
    }

    fn shape(laid: &Laid) -> Vec<(usize, u64, u32, u8)> {
        laid.pages
            .iter()
            .map(|(p, body)| {
                assert_eq!(p.body_len(), body.len());
                (p.lacing.len(), p.granule, p.sequence, p.flags)
            })
            .collect()
    }

    #[test]
    fn granules_follow_the_packets_and_sequence_numbers_the_pages() {
        // A comment over pages 1 and 2 (no packet ends on page 1), the setup ending on 2.
        let old = [
            header_page(1, vec![255, 255], NO_GRANULE),
            header_page(2, vec![10, 30], 0),
        ];
        let (grown, body) = lacing(256, 0);
        let laid = lay_out(&old, 1, &grown, &body).unwrap();
        assert_eq!(laid.added(), 0);
        assert_eq!(
            shape(&laid),
            [(3, NO_GRANULE, 1, 0), (255, 0, 2, CONTINUED)]
        );
        // 600 segments more: page 2 is split, the new page numbered after it.
        let (grown, body) = lacing(602, 0);
        let laid = lay_out(&old, 1, &grown, &body).unwrap();
        assert_eq!(laid.added(), 1);
        assert_eq!(laid.replacing, [0..1, 1..3]);
        assert_eq!(
            shape(&laid),
            [
                (255, NO_GRANULE, 1, 0),
                (255, NO_GRANULE, 2, CONTINUED),
                (94, 0, 3, CONTINUED)
            ]
        );
    }

    #[test]
    fn audio_on_a_header_page_keeps_its_granule_or_the_edit_is_refused() {
        // The comment, the setup and an audio packet (granule 500) on one page.
        let old = [header_page(1, vec![10, 30, 40], 500)];
        let (grown, body) = lacing(300, 1);
        let laid = lay_out(&old, 0, &grown, &body).unwrap();
        assert_eq!(
            shape(&laid),
            [(255, NO_GRANULE, 1, 0), (48, 500, 2, CONTINUED)]
        );
        // Audio ending on page 1 while a packet goes on into page 2: growing moves the
        // audio's end to page 2, whose granule is another.
        let old = [
            header_page(1, vec![10, 30, 40, 255], 500),
            header_page(2, vec![40], 900),
        ];
        let (grown, mut body) = lacing(253, 2);
        let mut open = grown.clone();
        open.insert(open.len() - 1, 255);
        body.extend([7; 255]);
        assert!(lay_out(&old, 0, &open, &body).is_err());
    }
}
