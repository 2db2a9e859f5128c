//! Shell command lines for the official runner images, whose instance mains start through
//! `sh -c` (the shard id comes from the pod name, the broker URL from the environment). Every
//! value from a CR passes through [`quote`]; fmesh's own expansions are fixed strings.

/// One piece of a shell word.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    /// Text that reaches the program exactly as given.
    Text(String),
    /// A fixed expansion of fmesh's (`"$brokerServiceURL"`, `"${SHARD_ID}"`), never user input.
    Shell(&'static str),
}

/// One word of a command line: pieces written next to each other, so `--x=` + text +
/// `"${SHARD_ID}"` is one argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word(Vec<Piece>);

impl Word {
    /// A word of literal text.
    pub fn text(s: impl Into<String>) -> Word {
        Word(vec![Piece::Text(s.into())])
    }
    /// A word that is one of fmesh's fixed expansions.
    pub fn shell(s: &'static str) -> Word {
        Word(vec![Piece::Shell(s)])
    }
    /// This word followed by literal text.
    pub fn then_text(mut self, s: impl Into<String>) -> Word {
        self.0.push(Piece::Text(s.into()));
        self
    }
    /// This word followed by a fixed expansion.
    pub fn then_shell(mut self, s: &'static str) -> Word {
        self.0.push(Piece::Shell(s));
        self
    }
    /// The argument the program receives, given the values of fmesh's fixed expansions.
    pub fn resolve(&self, expansion: impl Fn(&'static str) -> String) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Shell(s) => expansion(s),
            })
            .collect()
    }
    /// The word as `sh` source.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => quote(t),
                Piece::Shell(s) => (*s).to_string(),
            })
            .collect()
    }
}

/// Literal words, one per item.
pub fn words<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Vec<Word> {
    items.into_iter().map(Word::text).collect()
}

/// A command line: the words rendered and joined by spaces.
pub fn line(words: &[Word]) -> String {
    words.iter().map(Word::render).collect::<Vec<_>>().join(" ")
}

/// Quotes `s` so that it reaches the program as one argument, unchanged: single quotes for
/// `sh` (a `'` becomes `'\''`), and every `$` doubled for the kubelet, which expands
/// `$(VAR)` in a container's command before `sh` reads it (`$$` is its escape for `$`).
/// The one quoting function of the operator: every value from a CR goes through it. A word
/// of only letters, digits and `_ . / : , + @ % -` means the same to both and is left bare,
/// so command lines stay readable (no `=`: a first word `a=b` would be an assignment).
pub fn quote(s: &str) -> String {
    let bare = |c: char| c.is_ascii_alphanumeric() || "_./:,+@%-".contains(c);
    if !s.is_empty() && s.chars().all(bare) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str(r"'\''"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_close_reopen_around_a_quote_and_double_dollars() {
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$(touch x)"), "'$$(touch x)'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("/pulsar/a-b_1.jar"), "/pulsar/a-b_1.jar");
        assert_eq!(quote("a=b"), "'a=b'");
        assert_eq!(quote("/lib/*"), "'/lib/*'");
        assert_eq!(quote("~x"), "'~x'");
    }

    #[test]
    fn a_word_joins_its_pieces() {
        let w = Word::text("--file=a b").then_shell("\"${SHARD_ID}\"");
        assert_eq!(w.render(), "'--file=a b'\"${SHARD_ID}\"");
        assert_eq!(line(&words(["java", "-cp", "a b"])), "java -cp 'a b'");
    }
}
