//! Answers given before the questions are asked: by flags and by an answers
//! file, keyed by the questions' stable ids, as cargo-generate takes
//! `--define` values and rustup-init its flags.
//!
//! [`Answered`] is a [`Prompter`] that answers each question from them,
//! asks a person (through another prompter) only what is left, and with
//! nobody to ask fails naming the flag that would answer, so a run without
//! a terminal never waits. In unattended mode (`--yes`) every question left
//! takes its default, and one without a default fails clearly. A given
//! answer is used once: a flow that asks the same question again did so
//! because the answer was refused, and repeating it would loop.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::prompt::{
    Confirm, Input, MultiSelect, Password, ProgressView, PromptError, Prompter, Select,
};

/// One answer given in advance.
#[derive(Debug, Clone)]
pub enum Given {
    /// A text, or the label of a choice.
    Text(String),
    /// A hidden entry (read from a file or the environment).
    Secret(SecretString),
    /// The check boxes to tick, by key or label; all others cleared.
    List(Vec<String>),
    /// Yes or no.
    Yes(bool),
}

/// Answers by question id.
#[derive(Debug, Clone, Default)]
pub struct Answers(BTreeMap<String, Given>);

impl Answers {
    /// No answers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the answer to question `id`, replacing any before.
    pub fn set(&mut self, id: &str, answer: Given) -> &mut Self {
        self.0.insert(id.to_owned(), answer);
        self
    }

    /// Sets the answer to `id` unless one is set already (flags first, then
    /// the answers file, then fallbacks).
    pub fn set_default(&mut self, id: &str, answer: Given) -> &mut Self {
        self.0.entry(id.to_owned()).or_insert(answer);
        self
    }

    /// Whether question `id` has an answer.
    pub fn has(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    /// The answer to `id`.
    pub fn get(&self, id: &str) -> Option<&Given> {
        self.0.get(id)
    }
}

/// The answers file of `tacctl cluster export --answers FILE` and `tacctl
/// export --to URL --answers FILE`: YAML, keyed by the questions' ids,
/// unknown keys refused. Secrets are never in it, only the files they are
/// read from (relative paths are taken from the answers file's directory).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersFile {
    /// This node's root credentials: an administrator's user name.
    #[serde(rename = "root-user", default)]
    pub root_user: Option<String>,
    /// The file holding that administrator's password.
    #[serde(rename = "root-password-file", default)]
    pub root_password_file: Option<PathBuf>,
    /// Step 1: components by name (`jwt`, `users`, `ldap`, `network`, `files`).
    #[serde(rename = "cluster-components", default)]
    pub components: Option<Vec<String>>,
    /// Step 2: members by name.
    #[serde(rename = "cluster-members", default)]
    pub members: Option<Vec<String>>,
    /// Step 3: an administrator's user name on the members that do not
    /// accept this node's token.
    #[serde(rename = "cluster-user", default)]
    pub user: Option<String>,
    /// The file holding that administrator's password.
    #[serde(rename = "cluster-password-file", default)]
    pub password_file: Option<PathBuf>,
    /// Step 4: push without asking.
    #[serde(rename = "cluster-apply", default)]
    pub apply: Option<bool>,
}

/// How to give the answer to a question, for messages: `(id, how)`.
pub type Hints = &'static [(&'static str, &'static str)];

/// A prompter that answers from [`Answers`] first.
pub struct Answered<'a> {
    answers: Answers,
    used: HashSet<String>,
    unattended: bool,
    inner: Option<&'a mut dyn Prompter>,
    notes: Option<&'a mut dyn Write>,
    hints: Hints,
    quiet: bool,
    bars: bool,
}

impl<'a> Answered<'a> {
    /// Answers from `answers`; with `unattended` (`--yes`), defaults for
    /// the rest.
    pub fn new(answers: Answers, unattended: bool) -> Self {
        Self {
            answers,
            used: HashSet::new(),
            unattended,
            inner: None,
            notes: None,
            hints: &[],
            quiet: false,
            bars: false,
        }
    }

    /// Asks `inner` what is left (a terminal, or a script in tests); notes
    /// and progress go there too.
    pub fn ask(mut self, inner: &'a mut dyn Prompter) -> Self {
        self.inner = Some(inner);
        self
    }

    /// Without a prompter to ask, writes notes to `out`.
    pub fn notes_to(mut self, out: &'a mut dyn Write) -> Self {
        self.notes = Some(out);
        self
    }

    /// How each question can be answered, for the messages of missing ones.
    pub fn hints(mut self, hints: Hints) -> Self {
        self.hints = hints;
        self
    }

    /// No progress display at all.
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }

    /// Without a prompter to ask, shows progress bars on standard error
    /// (when it is a terminal).
    pub fn bars(mut self, bars: bool) -> Self {
        self.bars = bars;
        self
    }

    fn how(&self, id: &str) -> String {
        self.hints
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, how)| (*how).to_owned())
            .unwrap_or_else(|| format!("`{id}:` in the answers file"))
    }

    fn take(&mut self, id: &str) -> Option<Given> {
        if self.used.contains(id) {
            return None;
        }
        let answer = self.answers.0.get(id).cloned()?;
        self.used.insert(id.to_owned());
        Some(answer)
    }

    fn missing(&self, id: &str, prompt: &str) -> PromptError {
        if self.unattended {
            PromptError::NoDefault {
                id: id.to_owned(),
                prompt: prompt.to_owned(),
                how: self.how(id),
            }
        } else {
            PromptError::Missing {
                id: id.to_owned(),
                prompt: prompt.to_owned(),
                how: self.how(id),
            }
        }
    }

    fn bad(id: &str, prompt: &str, problem: impl Into<String>) -> PromptError {
        PromptError::BadAnswer {
            id: id.to_owned(),
            prompt: prompt.to_owned(),
            problem: problem.into(),
        }
    }

    fn kind_mismatch(id: &str, prompt: &str, wanted: &str) -> PromptError {
        Self::bad(id, prompt, format!("it takes {wanted}"))
    }
}

impl Prompter for Answered<'_> {
    fn select(&mut self, q: &Select) -> Result<usize, PromptError> {
        match self.take(q.id) {
            Some(Given::Text(t)) => q
                .options
                .iter()
                .position(|o| o.eq_ignore_ascii_case(t.trim()))
                .ok_or_else(|| {
                    Self::bad(
                        q.id,
                        &q.prompt,
                        format!("{t:?} is not one of {}", q.options.join(", ")),
                    )
                }),
            Some(_) => Err(Self::kind_mismatch(q.id, &q.prompt, "one of the options")),
            None if self.unattended => Ok(q.default),
            None => match self.inner.as_mut() {
                Some(p) => p.select(q),
                None => Err(self.missing(q.id, &q.prompt)),
            },
        }
    }

    fn multi_select(&mut self, q: &MultiSelect) -> Result<Vec<usize>, PromptError> {
        match self.take(q.id) {
            Some(Given::List(names)) => {
                let mut out = Vec::new();
                for name in names.iter().filter(|n| !n.trim().is_empty()) {
                    let Some(i) = q.items.iter().position(|it| it.is_named(name)) else {
                        let choices: Vec<&str> = q
                            .items
                            .iter()
                            .filter(|it| it.disabled.is_none())
                            .map(|it| it.key.as_deref().unwrap_or(&it.label))
                            .collect();
                        return Err(Self::bad(
                            q.id,
                            &q.prompt,
                            format!("there is no {name:?}; choose from {}", choices.join(", ")),
                        ));
                    };
                    if let Some(why) = &q.items[i].disabled {
                        return Err(Self::bad(
                            q.id,
                            &q.prompt,
                            format!("{} cannot be selected: {why}", q.items[i].label),
                        ));
                    }
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
                out.sort_unstable();
                Ok(out)
            }
            Some(_) => Err(Self::kind_mismatch(q.id, &q.prompt, "a list")),
            None if self.unattended => Ok(q
                .items
                .iter()
                .enumerate()
                .filter(|(_, it)| it.checked && it.disabled.is_none())
                .map(|(i, _)| i)
                .collect()),
            None => match self.inner.as_mut() {
                Some(p) => p.multi_select(q),
                None => Err(self.missing(q.id, &q.prompt)),
            },
        }
    }

    fn input(&mut self, q: &Input) -> Result<String, PromptError> {
        let text = match self.take(q.id) {
            Some(Given::Text(t)) => t,
            Some(_) => return Err(Self::kind_mismatch(q.id, &q.prompt, "a text")),
            None if self.unattended => {
                return q
                    .default
                    .clone()
                    .ok_or_else(|| self.missing(q.id, &q.prompt));
            }
            None => {
                return match self.inner.as_mut() {
                    Some(p) => p.input(q),
                    None => Err(self.missing(q.id, &q.prompt)),
                };
            }
        };
        let text = match (text.trim().is_empty(), &q.default) {
            (true, Some(d)) => d.clone(),
            (true, None) => return Err(Self::bad(q.id, &q.prompt, "it is empty")),
            (false, _) => text,
        };
        q.check(&text)
            .map_err(|problem| Self::bad(q.id, &q.prompt, problem))?;
        Ok(text)
    }

    fn password(&mut self, q: &Password) -> Result<SecretString, PromptError> {
        match self.take(q.id) {
            Some(Given::Secret(s)) if s.expose_secret().is_empty() => {
                Err(Self::bad(q.id, &q.prompt, "it is empty"))
            }
            Some(Given::Secret(s)) => Ok(s),
            Some(_) => Err(Self::kind_mismatch(q.id, &q.prompt, "a secret from a file")),
            None if self.unattended => Err(self.missing(q.id, &q.prompt)),
            None => match self.inner.as_mut() {
                Some(p) => p.password(q),
                None => Err(self.missing(q.id, &q.prompt)),
            },
        }
    }

    fn confirm(&mut self, q: &Confirm) -> Result<bool, PromptError> {
        match self.take(q.id) {
            Some(Given::Yes(b)) => Ok(b),
            Some(_) => Err(Self::kind_mismatch(q.id, &q.prompt, "true or false")),
            None if self.unattended => q.unattended.ok_or_else(|| self.missing(q.id, &q.prompt)),
            None => match self.inner.as_mut() {
                Some(p) => p.confirm(q),
                None => Err(self.missing(q.id, &q.prompt)),
            },
        }
    }

    fn note(&mut self, text: &str) -> Result<(), PromptError> {
        if let Some(p) = self.inner.as_mut() {
            return p.note(text);
        }
        if let Some(out) = self.notes.as_mut() {
            let end = if text.ends_with('\n') { "" } else { "\n" };
            write!(out, "{text}{end}")
                .and_then(|()| out.flush())
                .map_err(PromptError::Terminal)?;
        }
        Ok(())
    }

    fn progress(&mut self, targets: &[String]) -> ProgressView {
        if self.quiet {
            return ProgressView::none();
        }
        match self.inner.as_mut() {
            Some(p) => p.progress(targets),
            None if self.bars => super::terminal::progress_bars(targets),
            None => ProgressView::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::prompt::CheckItem;
    use super::super::scripted::ScriptedPrompter;
    use super::*;

    fn components() -> MultiSelect {
        MultiSelect {
            id: "cluster-components",
            prompt: "Appliance OS Configuration".into(),
            items: vec![
                CheckItem::new("Appliances JWT Configuration", true).key("jwt"),
                CheckItem::new("Local users", false).key("users"),
                CheckItem::disabled("TLS certificate", "node-local").key("tls"),
            ],
        }
    }

    const HINTS: Hints = &[("cluster-password", "--password-file FILE")];

    #[test]
    fn given_answers_are_used_by_key_or_label() {
        let mut a = Answers::new();
        a.set(
            "cluster-components",
            Given::List(vec!["users".into(), "JWT".into()]),
        );
        let mut p = Answered::new(a, false);
        assert_eq!(p.multi_select(&components()).unwrap(), [0, 1]);
    }

    #[test]
    fn a_disabled_or_unknown_item_is_refused_with_the_reason() {
        for (name, wanted) in [
            ("tls", "TLS certificate cannot be selected: node-local"),
            ("ldap", "there is no \"ldap\"; choose from jwt, users"),
        ] {
            let mut a = Answers::new();
            a.set("cluster-components", Given::List(vec![name.into()]));
            let e = Answered::new(a, false)
                .multi_select(&components())
                .unwrap_err()
                .to_string();
            assert!(e.contains(wanted), "{e}");
        }
    }

    #[test]
    fn without_an_answer_or_a_terminal_it_fails_naming_the_flag() {
        let mut p = Answered::new(Answers::new(), false).hints(HINTS);
        let e = p
            .password(&Password::new("cluster-password", "Password"))
            .unwrap_err();
        assert!(matches!(e, PromptError::Missing { .. }));
        assert!(e.to_string().contains("--password-file FILE"), "{e}");
    }

    #[test]
    fn unattended_takes_defaults_and_fails_where_there_is_none() {
        let mut p = Answered::new(Answers::new(), true).hints(HINTS);
        assert_eq!(p.multi_select(&components()).unwrap(), [0]);
        assert_eq!(
            p.input(&Input::new("cluster-user", "User").default("admin"))
                .unwrap(),
            "admin"
        );
        assert!(
            p.confirm(&Confirm::new("apply", "Apply?", false).unattended(Some(true)))
                .unwrap()
        );
        let e = p
            .confirm(&Confirm::new("trust", "Trust it?", false).unattended(None))
            .unwrap_err();
        assert!(matches!(e, PromptError::NoDefault { .. }), "{e}");
        let e = p
            .password(&Password::new("cluster-password", "Password"))
            .unwrap_err();
        assert!(
            e.to_string().starts_with("--yes takes the default answers"),
            "{e}"
        );
    }

    #[test]
    fn what_is_left_goes_to_the_inner_prompter_and_an_answer_is_used_once() {
        let mut a = Answers::new();
        a.set("cluster-user", Given::Text("ops".into()));
        let mut script = ScriptedPrompter::new()
            .text("cluster-user", "second")
            .secret("cluster-password", "typed-password");
        let mut p = Answered::new(a, false).ask(&mut script);
        let q = Input::new("cluster-user", "User");
        assert_eq!(p.input(&q).unwrap(), "ops");
        assert_eq!(
            p.input(&q).unwrap(),
            "second",
            "asked again: not the given one"
        );
        let pw = p
            .password(&Password::new("cluster-password", "Password"))
            .unwrap();
        assert_eq!(pw.expose_secret(), "typed-password");
        assert_eq!(script.asked(), ["cluster-user", "cluster-password"]);
    }

    #[test]
    fn the_answers_file_refuses_unknown_keys_and_secrets() {
        let ok: AnswersFile = yaml_serde::from_str(
            "cluster-components: [jwt, users]\ncluster-members: [esa2]\ncluster-password-file: pw\ncluster-apply: true\n",
        )
        .unwrap();
        assert_eq!(ok.components.unwrap(), ["jwt", "users"]);
        assert_eq!(ok.apply, Some(true));
        let e = yaml_serde::from_str::<AnswersFile>("cluster-password: hunter2hunter2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `cluster-password`"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn the_committed_answers_schema_matches_the_type() {
        let (name, json) = crate::component::schema_file::<AnswersFile>("cluster-export-answers");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schemas")
            .join(&name);
        if std::env::var_os("TACCTL_UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &json).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == json,
            "schemas/{name} has drifted from the Rust type; regenerate with TACCTL_UPDATE_SCHEMAS=1 cargo test --lib answers_schema"
        );
    }

    #[test]
    fn notes_go_to_the_writer_without_a_prompter() {
        let mut out = Vec::new();
        let mut p = Answered::new(Answers::new(), true).notes_to(&mut out);
        p.note("one").unwrap();
        p.note("two\n").unwrap();
        drop(p);
        assert_eq!(out, b"one\ntwo\n");
    }
}
