//! [`ScriptedPrompter`]: answers from a script, for tests of every branch.
//!
//! Each step names the question it answers by id, so a flow that asks
//! something else, or asks in another order, fails at once and says which
//! question it reached. Answers are checked as a terminal would check them:
//! a choice must be one of the options, a check box must be selectable, a
//! text that fails validation is refused with the validation message and the
//! next step must answer the same question again. Everything asked and shown
//! is recorded in a transcript; secrets typed are not.

use std::collections::VecDeque;

use secrecy::{ExposeSecret, SecretString};

use super::prompt::{
    Confirm, Input, MultiSelect, Password, PromptError, Prompter, Question, Select,
};

/// A scripted answer.
#[derive(Debug)]
pub enum Answer {
    /// The label of the option chosen.
    Choose(String),
    /// The labels of the check boxes ticked (all others cleared).
    Check(Vec<String>),
    /// A text; empty takes the default.
    Text(String),
    /// One hidden entry (a question with a confirmation takes two steps).
    Secret(SecretString),
    /// Yes or no.
    Confirm(bool),
}

/// What happened during a scripted run, in order.
#[derive(Debug, Clone)]
pub enum Event {
    /// A question was asked.
    Asked(Question),
    /// A text answer was refused with this validation message.
    Invalid {
        /// The question.
        id: &'static str,
        /// The message shown.
        message: String,
    },
    /// A note was shown.
    Note(String),
}

/// Answers questions from a queue of `(question id, answer)` steps.
#[derive(Debug, Default)]
pub struct ScriptedPrompter {
    steps: VecDeque<(String, Answer)>,
    transcript: Vec<Event>,
}

impl ScriptedPrompter {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a step: `answer` for question `id`.
    pub fn answer(mut self, id: &str, answer: Answer) -> Self {
        self.steps.push_back((id.to_owned(), answer));
        self
    }

    /// Chooses the option labelled `label`.
    pub fn choose(self, id: &str, label: &str) -> Self {
        self.answer(id, Answer::Choose(label.to_owned()))
    }

    /// Ticks exactly the check boxes labelled `labels`.
    pub fn check(self, id: &str, labels: &[&str]) -> Self {
        self.answer(
            id,
            Answer::Check(labels.iter().map(|l| (*l).to_owned()).collect()),
        )
    }

    /// Types `text` (empty takes the default).
    pub fn text(self, id: &str, text: &str) -> Self {
        self.answer(id, Answer::Text(text.to_owned()))
    }

    /// Types a hidden entry.
    pub fn secret(self, id: &str, secret: &str) -> Self {
        self.answer(id, Answer::Secret(SecretString::from(secret)))
    }

    /// Answers yes or no.
    pub fn confirm(self, id: &str, yes: bool) -> Self {
        self.answer(id, Answer::Confirm(yes))
    }

    /// Everything asked and shown so far.
    pub fn transcript(&self) -> &[Event] {
        &self.transcript
    }

    /// The ids of the questions asked, in order.
    pub fn asked(&self) -> Vec<&'static str> {
        self.transcript
            .iter()
            .filter_map(|e| match e {
                Event::Asked(q) => Some(q.id()),
                _ => None,
            })
            .collect()
    }

    /// The notes shown, in order.
    pub fn notes(&self) -> Vec<&str> {
        self.transcript
            .iter()
            .filter_map(|e| match e {
                Event::Note(n) => Some(n.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The validation messages shown, with their question ids.
    pub fn invalid(&self) -> Vec<(&'static str, &str)> {
        self.transcript
            .iter()
            .filter_map(|e| match e {
                Event::Invalid { id, message } => Some((*id, message.as_str())),
                _ => None,
            })
            .collect()
    }

    /// The last question asked with this id.
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.transcript.iter().rev().find_map(|e| match e {
            Event::Asked(q) if q.id() == id => Some(q),
            _ => None,
        })
    }

    /// How many steps are left unused.
    pub fn remaining(&self) -> usize {
        self.steps.len()
    }

    fn unfit(q: &Question, problem: impl Into<String>) -> PromptError {
        PromptError::Unfit {
            id: q.id().to_owned(),
            prompt: q.prompt().to_owned(),
            problem: problem.into(),
        }
    }

    /// Records the question and takes the next step, which must be for it.
    fn next(&mut self, q: Question) -> Result<(Answer, Question), PromptError> {
        self.transcript.push(Event::Asked(q.clone()));
        self.take(q)
    }

    /// Takes the next step, which must be for `q`, without recording `q` again.
    fn take(&mut self, q: Question) -> Result<(Answer, Question), PromptError> {
        let Some((id, answer)) = self.steps.pop_front() else {
            return Err(PromptError::NoAnswer {
                id: q.id().to_owned(),
                prompt: q.prompt().to_owned(),
            });
        };
        if id != q.id() {
            return Err(Self::unfit(
                &q,
                format!("the next scripted step answers {id:?}"),
            ));
        }
        Ok((answer, q))
    }
}

fn kind(a: &Answer) -> &'static str {
    match a {
        Answer::Choose(_) => "a choice",
        Answer::Check(_) => "check boxes",
        Answer::Text(_) => "a text",
        Answer::Secret(_) => "a hidden entry",
        Answer::Confirm(_) => "yes or no",
    }
}

impl Prompter for ScriptedPrompter {
    fn select(&mut self, q: &Select) -> Result<usize, PromptError> {
        let (answer, q) = self.next(Question::Select(q.clone()))?;
        let Question::Select(sel) = &q else {
            unreachable!("recorded as a select")
        };
        match answer {
            Answer::Choose(label) => {
                sel.options.iter().position(|o| *o == label).ok_or_else(|| {
                    Self::unfit(
                        &q,
                        format!("{label:?} is not one of the options {:?}", sel.options),
                    )
                })
            }
            other => Err(Self::unfit(
                &q,
                format!("expects a choice, the script gives {}", kind(&other)),
            )),
        }
    }

    fn multi_select(&mut self, q: &MultiSelect) -> Result<Vec<usize>, PromptError> {
        let (answer, q) = self.next(Question::MultiSelect(q.clone()))?;
        let Question::MultiSelect(ms) = &q else {
            unreachable!("recorded as a multi-select")
        };
        let Answer::Check(labels) = answer else {
            return Err(Self::unfit(
                &q,
                format!("expects check boxes, the script gives {}", kind(&answer)),
            ));
        };
        let mut out = Vec::new();
        for label in labels {
            let Some(i) = ms.items.iter().position(|it| it.label == label) else {
                return Err(Self::unfit(&q, format!("there is no check box {label:?}")));
            };
            if let Some(why) = &ms.items[i].disabled {
                return Err(Self::unfit(
                    &q,
                    format!("{label:?} cannot be selected: {why}"),
                ));
            }
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn input(&mut self, q: &Input) -> Result<String, PromptError> {
        let (mut answer, q) = self.next(Question::Input(q.clone()))?;
        let Question::Input(input) = &q else {
            unreachable!("recorded as an input")
        };
        loop {
            let Answer::Text(text) = answer else {
                return Err(Self::unfit(
                    &q,
                    format!("expects a text, the script gives {}", kind(&answer)),
                ));
            };
            let text = match (text.is_empty(), &input.default) {
                (true, Some(d)) => d.clone(),
                (true, None) => {
                    return Err(Self::unfit(&q, "an empty answer, and there is no default"));
                }
                (false, _) => text,
            };
            match input.check(&text) {
                Ok(()) => return Ok(text),
                Err(message) => {
                    // A terminal shows the message and asks again.
                    self.transcript.push(Event::Invalid {
                        id: input.id,
                        message,
                    });
                    answer = self.take(q.clone())?.0;
                }
            }
        }
    }

    fn password(&mut self, q: &Password) -> Result<SecretString, PromptError> {
        let (answer, q) = self.next(Question::Password(q.clone()))?;
        let Question::Password(pw) = &q else {
            unreachable!("recorded as a password")
        };
        let entry = |answer: Answer| match answer {
            Answer::Secret(s) if s.expose_secret().is_empty() => {
                Err(Self::unfit(&q, "an empty hidden entry is not accepted"))
            }
            Answer::Secret(s) => Ok(s),
            other => Err(Self::unfit(
                &q,
                format!("expects a hidden entry, the script gives {}", kind(&other)),
            )),
        };
        let first = entry(answer)?;
        if let Some(confirmation) = &pw.confirmation {
            let second = entry(self.take(q.clone())?.0)?;
            if first.expose_secret() != second.expose_secret() {
                return Err(PromptError::Mismatch {
                    prompt: pw.prompt.clone(),
                    confirmation: confirmation.clone(),
                });
            }
        }
        Ok(first)
    }

    fn confirm(&mut self, q: &Confirm) -> Result<bool, PromptError> {
        let (answer, q) = self.next(Question::Confirm(q.clone()))?;
        match answer {
            Answer::Confirm(yes) => Ok(yes),
            other => Err(Self::unfit(
                &q,
                format!("expects yes or no, the script gives {}", kind(&other)),
            )),
        }
    }

    fn note(&mut self, text: &str) -> Result<(), PromptError> {
        self.transcript.push(Event::Note(text.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::prompt::CheckItem;
    use super::*;

    fn algorithms() -> Select {
        Select::new("alg", "Set JWT Algorithm", ["HS512", "HS384", "HS256"])
    }

    #[test]
    fn a_choice_is_found_by_label_and_the_question_recorded() {
        let mut p = ScriptedPrompter::new().choose("alg", "HS384");
        assert_eq!(p.select(&algorithms()).unwrap(), 1);
        assert_eq!(p.asked(), ["alg"]);
        assert_eq!(p.remaining(), 0);
    }

    #[test]
    fn a_question_without_a_step_fails_naming_it() {
        let mut p = ScriptedPrompter::new();
        let e = p.select(&algorithms()).unwrap_err();
        assert!(
            matches!(&e, PromptError::NoAnswer { id, .. } if id == "alg"),
            "{e}"
        );
    }

    #[test]
    fn a_step_for_another_question_fails() {
        let mut p = ScriptedPrompter::new().choose("unit", "hour(s)");
        let e = p.select(&algorithms()).unwrap_err().to_string();
        assert!(
            e.contains("\"alg\"") && e.contains("answers \"unit\""),
            "{e}"
        );
    }

    #[test]
    fn an_option_that_is_not_offered_fails() {
        let mut p = ScriptedPrompter::new().choose("alg", "RS256");
        let e = p.select(&algorithms()).unwrap_err().to_string();
        assert!(e.contains("\"RS256\" is not one of the options"), "{e}");
    }

    #[test]
    fn an_answer_of_the_wrong_kind_fails() {
        let mut p = ScriptedPrompter::new().text("alg", "HS512");
        let e = p.select(&algorithms()).unwrap_err().to_string();
        assert!(
            e.contains("expects a choice, the script gives a text"),
            "{e}"
        );
    }

    #[test]
    fn a_disabled_check_box_cannot_be_ticked() {
        let q = MultiSelect {
            id: "components",
            prompt: "Appliance OS Configuration".into(),
            items: vec![
                CheckItem::new("Appliances JWT Configuration", true),
                CheckItem::disabled("TLS certificate", "node-local"),
            ],
        };
        let mut p = ScriptedPrompter::new().check("components", &["TLS certificate"]);
        let e = p.multi_select(&q).unwrap_err().to_string();
        assert!(e.contains("cannot be selected: node-local"), "{e}");
        let mut p = ScriptedPrompter::new().check("components", &["Appliances JWT Configuration"]);
        assert_eq!(p.multi_select(&q).unwrap(), [0]);
        let mut p = ScriptedPrompter::new().check("components", &[]);
        assert!(p.multi_select(&q).unwrap().is_empty());
    }

    #[test]
    fn invalid_text_is_refused_with_the_message_and_asked_again() {
        fn positive(s: &str) -> Result<(), String> {
            match s.parse::<u64>() {
                Ok(n) if n > 0 => Ok(()),
                _ => Err(format!("{s:?} is not a positive number")),
            }
        }
        let q = Input::new("n", "Number").validate(positive).default("7");
        let mut p = ScriptedPrompter::new()
            .text("n", "0")
            .text("n", "x")
            .text("n", "12");
        assert_eq!(p.input(&q).unwrap(), "12");
        assert_eq!(
            p.invalid(),
            [
                ("n", "\"0\" is not a positive number"),
                ("n", "\"x\" is not a positive number")
            ]
        );
        let mut p = ScriptedPrompter::new().text("n", "");
        assert_eq!(p.input(&q).unwrap(), "7", "empty takes the default");
        let mut p = ScriptedPrompter::new().text("n", "0");
        assert!(matches!(p.input(&q), Err(PromptError::NoAnswer { .. })));
    }

    #[test]
    fn a_confirmed_secret_takes_two_entries_and_a_mismatch_is_reported() {
        let q = Password::new("secret", "New Secret").confirm("Confirm Secret");
        let mut p = ScriptedPrompter::new()
            .secret("secret", "same-value")
            .secret("secret", "same-value");
        assert_eq!(p.password(&q).unwrap().expose_secret(), "same-value");
        let mut p = ScriptedPrompter::new()
            .secret("secret", "one-value")
            .secret("secret", "other-value");
        let e = p.password(&q).unwrap_err();
        assert_eq!(e.to_string(), "New Secret and Confirm Secret do not match");
        assert!(!format!("{:?}", p.transcript()).contains("one-value"));
        let mut p = ScriptedPrompter::new().secret("secret", "");
        assert!(p.password(&q).unwrap_err().to_string().contains("empty"));
    }
}
