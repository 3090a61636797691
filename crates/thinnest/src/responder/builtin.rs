//! The built-in engine: BM25 retrieval over the agent's knowledge, cut into passages,
//! and its instructions and first message. Deterministic and offline; it answers with
//! the best passage, or says that it found nothing relevant.

use std::collections::HashMap;

use super::{Prompt, Reply, ReplyFuture, Responder};

/// The model name that selects this engine.
pub const MODEL: &str = "builtin";
const ENGINE: &str = "builtin";
/// Passages are cut at paragraph ends, at most about this many characters.
const PASSAGE_CHARS: usize = 600;
const K1: f64 = 1.2;
const B: f64 = 0.75;

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "does", "for", "from",
    "how", "i", "if", "in", "is", "it", "its", "me", "my", "of", "on", "or", "our", "so", "that",
    "the", "their", "there", "this", "to", "was", "we", "what", "when", "where", "which", "who",
    "why", "will", "with", "you", "your",
];

/// Lowercase words of letters and digits, without common function words, and with a
/// plural's or third person's final `s` dropped, so that "closes" finds "close".
pub fn terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| match w.strip_suffix('s') {
            Some(stem) if stem.chars().count() > 2 && !stem.ends_with('s') => stem.to_owned(),
            _ => w,
        })
        .collect()
}

/// A passage and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub source: String,
    pub text: String,
}

/// Cuts a text into passages at blank lines, joining short paragraphs and splitting
/// long ones at sentence ends.
pub fn passages(source: &str, text: &str) -> Vec<Passage> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut push = |current: &mut String| {
        let text = current.trim();
        if !text.is_empty() {
            out.push(Passage {
                source: source.to_owned(),
                text: text.to_owned(),
            });
        }
        current.clear();
    };
    for paragraph in text.split("\n\n") {
        for sentence in paragraph.split_inclusive(['.', '!', '?']) {
            if current.len() + sentence.len() > PASSAGE_CHARS {
                push(&mut current);
            }
            current.push_str(sentence);
        }
        if current.len() > PASSAGE_CHARS / 2 {
            push(&mut current);
        } else {
            current.push('\n');
        }
    }
    push(&mut current);
    out
}

/// The passages of everything an agent knows.
pub fn corpus(prompt: &Prompt<'_>) -> Vec<Passage> {
    let mut all = passages("instructions", &prompt.agent.instructions);
    for item in prompt.knowledge {
        all.extend(passages(&item.title, &item.text));
    }
    all
}

/// The passages that match `query`, best first, with their BM25 scores.
pub fn search(corpus: &[Passage], query: &str) -> Vec<(f64, Passage)> {
    let query: Vec<String> = terms(query);
    if query.is_empty() || corpus.is_empty() {
        return Vec::new();
    }
    let docs: Vec<Vec<String>> = corpus.iter().map(|p| terms(&p.text)).collect();
    let n = docs.len() as f64;
    let average = docs.iter().map(Vec::len).sum::<usize>() as f64 / n;
    let mut containing: HashMap<&str, f64> = HashMap::new();
    for term in &query {
        let df = docs.iter().filter(|d| d.contains(term)).count() as f64;
        containing.insert(term, df);
    }
    let mut scored: Vec<(f64, Passage)> = docs
        .iter()
        .zip(corpus)
        .map(|(doc, passage)| {
            let length = doc.len() as f64;
            let score = query
                .iter()
                .map(|term| {
                    let tf = doc.iter().filter(|w| *w == term).count() as f64;
                    let df = containing.get(term.as_str()).copied().unwrap_or(0.0);
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length / average.max(1.0)))
                })
                .sum::<f64>();
            (score, passage.clone())
        })
        .filter(|(score, _)| *score > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
}

pub struct Builtin;

impl Builtin {
    fn answer(prompt: &Prompt<'_>) -> String {
        let found = search(&corpus(prompt), prompt.message);
        match found.first() {
            Some((_, best)) if best.source == "instructions" => best.text.clone(),
            Some((_, best)) => format!("From \u{201c}{}\u{201d}: {}", best.source, best.text),
            None if prompt.history.is_empty() && !prompt.agent.first_message.is_empty() => format!(
                "{} I found nothing about that in what I know, though.",
                prompt.agent.first_message
            ),
            None => "I found nothing about that in what I know. Try other words, or ask about \
                     something in my documents."
                .to_owned(),
        }
    }
}

impl Responder for Builtin {
    fn reply<'a>(&'a self, prompt: &'a Prompt<'a>) -> ReplyFuture<'a> {
        Box::pin(async move {
            Ok(Reply {
                content: Builtin::answer(prompt),
                engine: ENGINE,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus_of(texts: &[(&str, &str)]) -> Vec<Passage> {
        texts.iter().flat_map(|(s, t)| passages(s, t)).collect()
    }

    #[test]
    fn the_passage_with_the_rare_matching_terms_wins() {
        let corpus = corpus_of(&[
            (
                "hours",
                "We are open from 9 to 17 on weekdays. The office is closed on weekends.",
            ),
            (
                "returns",
                "Returns are accepted within 30 days with the receipt.",
            ),
            (
                "shipping",
                "Shipping takes 3 days. Shipping is free above 50 euros.",
            ),
        ]);
        let found = search(&corpus, "How many days do I have for returns?");
        assert_eq!(found[0].1.source, "returns");
        assert!(search(&corpus, "the of and").is_empty());
        assert!(search(&corpus, "parking garage").is_empty());
    }

    #[test]
    fn long_texts_are_cut_into_passages() {
        let long = "One sentence here. ".repeat(100);
        let cut = passages("doc", &long);
        assert!(cut.len() > 2);
        assert!(cut.iter().all(|p| p.text.len() <= PASSAGE_CHARS + 20));
    }
}
