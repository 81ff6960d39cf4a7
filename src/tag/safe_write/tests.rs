//! Unit tests of [`super`] (safe_write.rs).

use super::*;

#[test]
fn backup_names_round_trip_and_other_names_are_not_backups() {
    let backup = backup_path_for(Path::new("/m/A/01 One.mp3"));
    assert_eq!(backup, Path::new("/m/A/.01 One.mp3.covergenre-orig"));
    assert_eq!(
        original_name_of(backup.file_name().unwrap()),
        Some(OsString::from("01 One.mp3"))
    );
    for other in [
        ".x.covergenre-tmp",
        "x.covergenre-orig",
        "..covergenre-orig",
    ] {
        assert_eq!(
            original_name_of(std::ffi::OsStr::new(other)),
            None,
            "{other}"
        );
    }
}

#[test]
fn an_in_place_write_keeps_the_inode_and_a_left_backup_is_put_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.bin");
    let other_name = dir.path().join("b.bin");
    std::fs::write(&file, b"old bytes").unwrap();
    std::fs::hard_link(&file, &other_name).unwrap();
    let inode = Identity::read(&file).unwrap().inode;
    let options = WriteOptions {
        method: Method::InPlace,
        ..Default::default()
    };
    let mut recorded = None;
    let written = rewrite(
        &file,
        options,
        |_| Ok(vec![Splice::overwrite(0, b"new".to_vec())]),
        |restore| {
            recorded = Some(restore.clone());
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(written.identity.inode, inode);
    assert_eq!(std::fs::read(&other_name).unwrap(), b"new bytes");
    assert!(!backup_path_for(&file).exists());
    assert_eq!(recorded.unwrap().splices()[0].bytes, b"old");

    // A change of length rewrites to the end; a failing record writes nothing.
    let grow = |_: &mut File| Ok(vec![Splice::insert(3, b" and more".to_vec())]);
    rewrite(&file, options, grow, |_| Ok(())).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"new and more bytes");
    let refused = rewrite(&file, options, grow, |_| anyhow::bail!("journal full"));
    assert!(refused.is_err());
    assert_eq!(std::fs::read(&file).unwrap(), b"new and more bytes");

    // A kill after the backup: the next run puts it back into the same inode.
    std::fs::write(backup_path_for(&file), b"old bytes").unwrap();
    std::fs::write(&file, b"half-writ").unwrap();
    let (restored, problems) = restore_backups(dir.path());
    assert_eq!((restored, problems), (vec![file.clone()], vec![]));
    assert_eq!(std::fs::read(&other_name).unwrap(), b"old bytes");
    assert_eq!(Identity::read(&file).unwrap().inode, inode);
}

#[test]
fn a_replaced_file_keeps_its_permissions_and_time_and_gets_the_splices() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.bin");
    std::fs::write(&file, b"ID3 Jazz audio").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let before = std::fs::metadata(&file).unwrap();
    let options = WriteOptions::default();
    let splices = |_: &mut File| Ok(vec![Splice::overwrite(4, b"Rock".to_vec())]);
    let written = rewrite(&file, options, splices, |_| Ok(())).unwrap();
    assert_ne!(written.identity.inode, before.ino());
    assert_eq!(std::fs::read(&file).unwrap(), b"ID3 Rock audio");
    let after = std::fs::metadata(&file).unwrap();
    assert_eq!(after.permissions().mode() & 0o777, 0o640);
    assert_eq!(after.modified().unwrap(), before.modified().unwrap());
}

#[test]
fn a_file_changed_since_the_plan_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.bin");
    std::fs::write(&file, b"as planned").unwrap();
    let planned = Identity::read(&file).unwrap();
    std::fs::write(&file, b"changed by someone else").unwrap();
    let options = WriteOptions {
        expected: Some(planned),
        ..Default::default()
    };
    let error = rewrite(&file, options, |_| Ok(Vec::new()), |_| Ok(())).unwrap_err();
    assert!(matches!(error, WriteError::Changed(_)), "{error}");
    assert_eq!(std::fs::read(&file).unwrap(), b"changed by someone else");
}

#[test]
fn full_disks_and_read_only_file_systems_stop_the_run() {
    let io = |code| anyhow::Error::new(std::io::Error::from_raw_os_error(code));
    let path = Path::new("/m/A/01.mp3");
    let full = WriteError::of(io(28).context("cannot copy"), path, 4096);
    assert!(full.stops_the_run());
    assert_eq!(
        full.to_string(),
        "no space left on the device: writing it needs 4096 bytes free in /m/A"
    );
    assert!(WriteError::of(io(30), path, 1).stops_the_run());
    assert!(!WriteError::of(io(5), path, 1).stops_the_run());
}
