fn main() {
    eprintln!("covergenre-classify: not written yet");
    std::process::exit(covergenre::exit::FATAL);
}
