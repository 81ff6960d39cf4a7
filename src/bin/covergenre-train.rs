fn main() {
    eprintln!("covergenre-train: not written yet");
    std::process::exit(covergenre::exit::FATAL);
}
