//! The questions the wizard asks, as plain data, and [`Prompter`], the one
//! interface every question goes through.
//!
//! A question carries an `id` (stable, what a script or an answers file
//! refers to), the text the screen shows, and what a valid answer is: the
//! options of a choice, the check boxes with the ones that cannot be ticked,
//! the validation of a text. The flows build questions and read answers; how
//! a question reaches a person (a terminal) or a test (a script) is the
//! prompter's business alone.

use secrecy::SecretString;

pub use crate::cluster::push::ProgressView;

/// Checks a text answer: `Err` carries the message shown before asking again.
pub type Validator = fn(&str) -> Result<(), String>;

/// Choose one of several options.
#[derive(Debug, Clone)]
pub struct Select {
    /// Stable identifier.
    pub id: &'static str,
    /// The screen's title or question.
    pub prompt: String,
    /// The options, as labelled on the screen.
    pub options: Vec<String>,
    /// The option highlighted at first.
    pub default: usize,
}

impl Select {
    /// A choice among `options`, the first highlighted.
    pub fn new<S: Into<String>>(
        id: &'static str,
        prompt: impl Into<String>,
        options: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            id,
            prompt: prompt.into(),
            options: options.into_iter().map(Into::into).collect(),
            default: 0,
        }
    }

    /// Highlights option `i` at first.
    pub fn default(mut self, i: usize) -> Self {
        self.default = i;
        self
    }
}

/// One check box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckItem {
    /// Its label.
    pub label: String,
    /// A short stable name that flags and answers files use for it (such
    /// as a component's `jwt` or a member's name); `None` when the label is
    /// all there is.
    pub key: Option<String>,
    /// Ticked at first.
    pub checked: bool,
    /// `None` when it can be ticked; otherwise why not (it is still shown).
    pub disabled: Option<String>,
}

impl CheckItem {
    /// A check box that can be ticked.
    pub fn new(label: impl Into<String>, checked: bool) -> Self {
        Self {
            label: label.into(),
            key: None,
            checked,
            disabled: None,
        }
    }

    /// Gives it a stable name for flags and answers files.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Whether `answer` names it: its key, or its label, ignoring case.
    pub fn is_named(&self, answer: &str) -> bool {
        let answer = answer.trim();
        self.key
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(answer))
            || self.label.eq_ignore_ascii_case(answer)
    }

    /// A check box shown but not selectable, and why.
    pub fn disabled(label: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            key: None,
            checked: false,
            disabled: Some(why.into()),
        }
    }
}

/// Tick any of several check boxes.
#[derive(Debug, Clone)]
pub struct MultiSelect {
    /// Stable identifier.
    pub id: &'static str,
    /// The group's title.
    pub prompt: String,
    /// The check boxes.
    pub items: Vec<CheckItem>,
}

/// A line of text.
#[derive(Debug, Clone)]
pub struct Input {
    /// Stable identifier.
    pub id: &'static str,
    /// The field's label.
    pub prompt: String,
    /// What an empty answer stands for.
    pub default: Option<String>,
    /// What makes an answer acceptable.
    pub validate: Option<Validator>,
}

impl Input {
    /// A text field without default or validation.
    pub fn new(id: &'static str, prompt: impl Into<String>) -> Self {
        Self {
            id,
            prompt: prompt.into(),
            default: None,
            validate: None,
        }
    }

    /// What an empty answer stands for.
    pub fn default(mut self, value: impl Into<String>) -> Self {
        self.default = Some(value.into());
        self
    }

    /// Refuses answers `v` refuses, with its message, and asks again.
    pub fn validate(mut self, v: Validator) -> Self {
        self.validate = Some(v);
        self
    }

    /// Checks an answer against the validation, if any.
    pub fn check(&self, answer: &str) -> Result<(), String> {
        self.validate.map_or(Ok(()), |v| v(answer))
    }
}

/// A hidden entry, optionally typed a second time to confirm it.
#[derive(Debug, Clone)]
pub struct Password {
    /// Stable identifier.
    pub id: &'static str,
    /// The field's label.
    pub prompt: String,
    /// The label of the second entry, for new secrets.
    pub confirmation: Option<String>,
}

impl Password {
    /// A single hidden entry.
    pub fn new(id: &'static str, prompt: impl Into<String>) -> Self {
        Self {
            id,
            prompt: prompt.into(),
            confirmation: None,
        }
    }

    /// Asks a second time under `label`; differing entries are
    /// [`PromptError::Mismatch`].
    pub fn confirm(mut self, label: impl Into<String>) -> Self {
        self.confirmation = Some(label.into());
        self
    }
}

/// A yes or no question.
#[derive(Debug, Clone)]
pub struct Confirm {
    /// Stable identifier.
    pub id: &'static str,
    /// The question.
    pub prompt: String,
    /// The answer Enter gives.
    pub default: bool,
    /// The answer taken when nobody is there to ask (`--yes`); `None` when
    /// only a person or an explicit answer may decide (trusting a
    /// certificate). Unless set, the default.
    pub unattended: Option<bool>,
}

impl Confirm {
    /// A yes or no question with a default.
    pub fn new(id: &'static str, prompt: impl Into<String>, default: bool) -> Self {
        Self {
            id,
            prompt: prompt.into(),
            default,
            unattended: Some(default),
        }
    }

    /// What `--yes` answers; `None`: it cannot answer this one.
    pub fn unattended(mut self, answer: Option<bool>) -> Self {
        self.unattended = answer;
        self
    }
}

/// Any question, as recorded by the scripted prompter.
#[derive(Debug, Clone)]
pub enum Question {
    /// A choice.
    Select(Select),
    /// Check boxes.
    MultiSelect(MultiSelect),
    /// A text.
    Input(Input),
    /// A hidden entry.
    Password(Password),
    /// Yes or no.
    Confirm(Confirm),
}

impl Question {
    /// Its identifier.
    pub fn id(&self) -> &'static str {
        match self {
            Question::Select(q) => q.id,
            Question::MultiSelect(q) => q.id,
            Question::Input(q) => q.id,
            Question::Password(q) => q.id,
            Question::Confirm(q) => q.id,
        }
    }

    /// The text the screen shows.
    pub fn prompt(&self) -> &str {
        match self {
            Question::Select(q) => &q.prompt,
            Question::MultiSelect(q) => &q.prompt,
            Question::Input(q) => &q.prompt,
            Question::Password(q) => &q.prompt,
            Question::Confirm(q) => &q.prompt,
        }
    }
}

/// Why a question got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// Standard input or standard error is not a terminal.
    #[error(
        "the wizard needs a terminal to ask on, and standard input or standard error is not one; run it in an interactive terminal, or use the `tacctl jwt`, `export` and `import` commands with their flags"
    )]
    NoTerminal,
    /// Reading from or drawing on the terminal failed.
    #[error("the terminal failed: {0}; run the wizard again")]
    Terminal(#[source] std::io::Error),
    /// The confirmation of a hidden entry differs from the entry.
    #[error("{prompt} and {confirmation} do not match")]
    Mismatch {
        /// The first entry's label.
        prompt: String,
        /// The second entry's label.
        confirmation: String,
    },
    /// A question has no answer given and nobody to ask.
    #[error(
        "{prompt:?} ({id}) needs an answer and there is no terminal to ask on; give it with {how}"
    )]
    Missing {
        /// The question.
        id: String,
        /// Its text.
        prompt: String,
        /// How to give the answer: the flag, the answers file key.
        how: String,
    },
    /// `--yes` takes defaults, and this question has none.
    #[error("--yes takes the default answers, but {prompt:?} ({id}) has none; give it with {how}")]
    NoDefault {
        /// The question.
        id: String,
        /// Its text.
        prompt: String,
        /// How to give the answer.
        how: String,
    },
    /// An answer given by a flag or an answers file does not fit the question.
    #[error("the answer given for {prompt:?} ({id}) does not fit: {problem}")]
    BadAnswer {
        /// The question.
        id: String,
        /// Its text.
        prompt: String,
        /// What is wrong and what would fit (never a secret's value).
        problem: String,
    },
    /// A scripted prompter has no answer left for a question.
    #[error("no scripted answer for question {id:?} ({prompt:?}); add one to the script")]
    NoAnswer {
        /// The question asked.
        id: String,
        /// Its text.
        prompt: String,
    },
    /// A scripted answer is for another question or does not fit this one.
    #[error("the scripted answer does not fit question {id:?} ({prompt:?}): {problem}")]
    Unfit {
        /// The question asked.
        id: String,
        /// Its text.
        prompt: String,
        /// What is wrong (never a secret's value).
        problem: String,
    },
}

impl From<dialoguer::Error> for PromptError {
    fn from(e: dialoguer::Error) -> Self {
        PromptError::Terminal(e.into())
    }
}

/// Every question the wizard asks goes through here.
///
/// Contract for implementations: `select` returns an index into the
/// options; `multi_select` returns the indices of ticked items, never a
/// disabled one; `input` returns a text the question's validation accepts
/// (an empty answer becomes the default); `password` never returns an empty
/// secret, and for a question with a confirmation it asks twice and returns
/// [`PromptError::Mismatch`] when the entries differ; `note` shows text.
pub trait Prompter {
    /// Choose one option.
    fn select(&mut self, q: &Select) -> Result<usize, PromptError>;
    /// Tick check boxes.
    fn multi_select(&mut self, q: &MultiSelect) -> Result<Vec<usize>, PromptError>;
    /// Enter a text.
    fn input(&mut self, q: &Input) -> Result<String, PromptError>;
    /// Enter a hidden secret (twice, with a confirmation).
    fn password(&mut self, q: &Password) -> Result<SecretString, PromptError>;
    /// Answer yes or no.
    fn confirm(&mut self, q: &Confirm) -> Result<bool, PromptError>;
    /// Show a message or a result.
    fn note(&mut self, text: &str) -> Result<(), PromptError>;
    /// A display of a push's progress, one line per target, for as long as
    /// the returned value lives; by default, none.
    fn progress(&mut self, targets: &[String]) -> ProgressView {
        let _ = targets;
        ProgressView::none()
    }
}
