//! [`TerminalPrompter`]: the questions on a terminal through dialoguer, drawn
//! on standard error, and a push's progress as one indicatif bar per target.
//! The only code in tacctl that touches dialoguer's interactive prompts or
//! indicatif for the wizard.

use std::io::{IsTerminal, Write};

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::prompt::{
    Confirm, Input, MultiSelect, Password, ProgressView, PromptError, Prompter, Select,
};
use crate::cluster::push::Stage;

/// Asks on the terminal. Refuses to exist without one, so the wizard never
/// waits for input that cannot come.
#[derive(Debug)]
pub struct TerminalPrompter {
    _private: (),
}

impl TerminalPrompter {
    /// A prompter on this process's terminal, or [`PromptError::NoTerminal`]
    /// when standard input or standard error is not a terminal.
    pub fn new() -> Result<Self, PromptError> {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Err(PromptError::NoTerminal);
        }
        Ok(Self { _private: () })
    }
}

fn label(item: &super::prompt::CheckItem) -> String {
    match &item.disabled {
        None => item.label.clone(),
        Some(why) => format!("{} ({why})", item.label),
    }
}

impl Prompter for TerminalPrompter {
    fn select(&mut self, q: &Select) -> Result<usize, PromptError> {
        Ok(dialoguer::Select::new()
            .with_prompt(&q.prompt)
            .items(&q.options)
            .default(q.default)
            .interact()?)
    }

    fn multi_select(&mut self, q: &MultiSelect) -> Result<Vec<usize>, PromptError> {
        // dialoguer cannot lock a check box, so a disabled one that gets
        // ticked is refused with its reason and the question asked again.
        let labels: Vec<String> = q.items.iter().map(label).collect();
        let mut ticks: Vec<bool> = q
            .items
            .iter()
            .map(|i| i.checked && i.disabled.is_none())
            .collect();
        loop {
            let chosen = dialoguer::MultiSelect::new()
                .with_prompt(format!("{} (space ticks, enter accepts)", q.prompt))
                .items(&labels)
                .defaults(&ticks)
                .interact()?;
            let refused: Vec<&super::prompt::CheckItem> = chosen
                .iter()
                .map(|&i| &q.items[i])
                .filter(|i| i.disabled.is_some())
                .collect();
            if refused.is_empty() {
                return Ok(chosen);
            }
            for item in refused {
                self.note(&format!(
                    "{} cannot be selected: {}",
                    item.label,
                    item.disabled.as_deref().unwrap_or_default()
                ))?;
            }
            ticks = (0..q.items.len())
                .map(|i| chosen.contains(&i) && q.items[i].disabled.is_none())
                .collect();
        }
    }

    fn input(&mut self, q: &Input) -> Result<String, PromptError> {
        let mut input = dialoguer::Input::<String>::new().with_prompt(&q.prompt);
        if let Some(d) = &q.default {
            input = input.default(d.clone());
        }
        if let Some(v) = q.validate {
            input = input.validate_with(move |s: &String| v(s));
        }
        Ok(input.interact_text()?)
    }

    fn password(&mut self, q: &Password) -> Result<SecretString, PromptError> {
        let first = Zeroizing::new(
            dialoguer::Password::new()
                .with_prompt(&q.prompt)
                .interact()?,
        );
        if let Some(confirmation) = &q.confirmation {
            let second = Zeroizing::new(
                dialoguer::Password::new()
                    .with_prompt(confirmation)
                    .interact()?,
            );
            if *first != *second {
                return Err(PromptError::Mismatch {
                    prompt: q.prompt.clone(),
                    confirmation: confirmation.clone(),
                });
            }
        }
        Ok(SecretString::from(first.as_str()))
    }

    fn confirm(&mut self, q: &Confirm) -> Result<bool, PromptError> {
        Ok(dialoguer::Confirm::new()
            .with_prompt(&q.prompt)
            .default(q.default)
            .interact()?)
    }

    fn progress(&mut self, targets: &[String]) -> ProgressView {
        progress_bars(targets)
    }

    fn note(&mut self, text: &str) -> Result<(), PromptError> {
        let mut err = std::io::stderr().lock();
        let end = if text.ends_with('\n') { "" } else { "\n" };
        write!(err, "{text}{end}")
            .and_then(|()| err.flush())
            .map_err(PromptError::Terminal)
    }
}

/// One bar per target on standard error, each with the target's name and
/// stage; indicatif draws nothing when standard error is not a terminal.
pub fn progress_bars(targets: &[String]) -> ProgressView {
    use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let width = targets.iter().map(|t| t.len()).max().unwrap_or(0).min(40);
    let style =
        ProgressStyle::with_template(&format!("{{prefix:<{width}}} [{{bar:20}}] {{wide_msg}}"))
            .expect("the template is valid")
            .progress_chars("=> ");
    let bars: Vec<ProgressBar> = targets
        .iter()
        .map(|t| {
            let bar = multi.add(ProgressBar::new(Stage::STEPS));
            bar.set_style(style.clone());
            bar.set_prefix(t.clone());
            bar.set_message("waiting");
            bar
        })
        .collect();
    let shown = bars.clone();
    ProgressView::new(
        std::sync::Arc::new(move |i: usize, stage: &Stage| {
            if let Some(bar) = shown.get(i) {
                bar.set_position(stage.position());
                bar.set_message(stage.to_string());
                if stage.is_final() {
                    bar.finish();
                }
            }
        }),
        move || {
            for bar in &bars {
                if !bar.is_finished() {
                    bar.finish();
                }
            }
            let _ = multi.clear();
        },
    )
}
