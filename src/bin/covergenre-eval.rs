fn main() {
    eprintln!("covergenre-eval: not written yet");
    std::process::exit(covergenre::exit::FATAL);
}
