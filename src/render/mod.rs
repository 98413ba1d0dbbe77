//! Templates (handlebars, in `templates/{nb,en}/`) turned into a subject and a text
//! body. The templates are compiled into the binary and checked at start-up, so a broken
//! template stops the daemon before it sends anything.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use handlebars::Handlebars;
use serde::Serialize;

use crate::domain::{Answer, Language, Response};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {0} does not compile: {1}")]
    Compile(String, Box<handlebars::TemplateError>),
    #[error("cannot render template {0}: {1}")]
    Render(String, Box<handlebars::RenderError>),
    #[error("template {0} must start with a \"Subject: …\" line and a blank line")]
    NoSubject(String),
    #[error("cannot read the template folder {0}: {1}")]
    Folder(String, std::io::Error),
    #[error("{0}: no such template ({1})")]
    Unknown(String, String),
    #[error("the example data {0} is not a JSON object: {1}")]
    Example(String, String),
    #[error("template {0} uses variables its kind of mail does not have: {1}")]
    UnknownVariable(String, String),
    #[error(
        "template {0} was given variables its example data (templates/examples) does not list: {1}"
    )]
    Undeclared(String, String),
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/templates.rs"));
}

/// Every language a template folder can hold.
pub const LANGUAGES: [Language; 3] = [Language::Nb, Language::Nn, Language::En];

/// A rendered email text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// The templates of every mail kind in every language, compiled: the embedded ones,
/// with any file of a `[templates] dir` folder in their place.
///
/// Each language has a registry of its own, so a template includes the shared pieces
/// of its language by their plain name (`{{> greeting}}` is `_greeting.hbs` beside it).
pub struct Renderer {
    registries: Vec<(Language, Handlebars<'static>)>,
    examples: std::collections::BTreeMap<String, serde_json::Value>,
    /// Where each template came from, for `templates show`.
    origins: std::collections::BTreeMap<String, String>,
}

/// The kinds of mail there are templates for (file stems not starting with `_`).
pub fn kinds() -> Vec<&'static str> {
    let mut k: Vec<&str> = embedded::EMBEDDED
        .iter()
        .filter(|(folder, stem, _)| *folder == "nb" && !stem.starts_with('_'))
        .map(|(_, stem, _)| *stem)
        .collect();
    k.dedup();
    k
}

fn language_of(folder: &str) -> Option<Language> {
    LANGUAGES.into_iter().find(|l| l.as_str() == folder)
}

impl Renderer {
    /// The embedded templates only.
    pub fn new() -> Result<Renderer, RenderError> {
        Renderer::with_overrides(None)
    }

    /// Compiles every template (an override folder's files replace the embedded ones of
    /// the same language and name) and renders each once with its example data in strict
    /// mode, so a template that cannot work, or uses a variable nobody gives it, is found
    /// at start-up, not when the mail is due.
    pub fn with_overrides(dir: Option<&std::path::Path>) -> Result<Renderer, RenderError> {
        let mut texts: std::collections::BTreeMap<(String, String), (String, String)> =
            Default::default();
        let mut examples = std::collections::BTreeMap::new();
        for (folder, stem, text) in embedded::EMBEDDED {
            if *folder == "examples" {
                let v: serde_json::Value = serde_json::from_str(text)
                    .map_err(|e| RenderError::Example(stem.to_string(), e.to_string()))?;
                if !v.is_object() {
                    return Err(RenderError::Example(
                        stem.to_string(),
                        "not an object".into(),
                    ));
                }
                examples.insert(stem.to_string(), v);
            } else {
                texts.insert(
                    (folder.to_string(), stem.to_string()),
                    (text.to_string(), "embedded".to_string()),
                );
            }
        }
        if let Some(dir) = dir {
            for (key, text, origin) in read_overrides(dir)? {
                if !texts.contains_key(&key) {
                    return Err(RenderError::Unknown(origin, suggestion(&key.1)));
                }
                texts.insert(key, (text, origin));
            }
        }
        let mut registries = Vec::new();
        let mut origins = std::collections::BTreeMap::new();
        for lang in LANGUAGES {
            let mut hb = Handlebars::new();
            hb.set_strict_mode(true);
            // Plain-text mail: no HTML escaping.
            hb.register_escape_fn(handlebars::no_escape);
            helpers::register(&mut hb, lang);
            for ((folder, stem), (text, origin)) in &texts {
                if folder != lang.as_str() {
                    continue;
                }
                let name = stem.strip_prefix('_').unwrap_or(stem).to_string();
                let full = format!("{folder}/{stem}");
                hb.register_template_string(&name, text.as_str())
                    .map_err(|e| RenderError::Compile(format!("{full} ({origin})"), Box::new(e)))?;
                origins.insert(full, origin.clone());
            }
            registries.push((lang, hb));
        }
        let r = Renderer {
            registries,
            examples,
            origins,
        };
        for lang in LANGUAGES {
            // The walk first: its message names the variable and what the kind has.
            r.check_variables(lang)?;
            for kind in kinds() {
                r.show(lang, kind)?;
            }
        }
        Ok(r)
    }

    /// Strict mode catches `{{unknown}}` but not `{{#if unknown}}`: every variable a
    /// template names outside a loop must be in its kind's example data. A partial is
    /// checked against its own example (`examples/_answer.json` for `_answer.hbs`, the
    /// data it is given, as in `{{> answer answer}}`), else the common variables.
    fn check_variables(&self, lang: Language) -> Result<(), RenderError> {
        let Some((_, hb)) = self.registries.iter().find(|(l, _)| *l == lang) else {
            return Ok(());
        };
        let partials: std::collections::BTreeSet<String> = hb
            .get_templates()
            .keys()
            .filter(|n| !kinds().contains(&n.as_str()))
            .cloned()
            .collect();
        for (name, tpl) in hb.get_templates() {
            let own = format!("_{name}");
            let example = if kinds().contains(&name.as_str()) {
                self.example(name)?
            } else if let Some(e) = self.examples.get(&own) {
                e.clone()
            } else {
                self.examples.get("_common").cloned().unwrap_or_default()
            };
            let mut unknown = Vec::new();
            variables::unknown(tpl, &example, &partials, &mut unknown);
            if !unknown.is_empty() {
                unknown.sort();
                unknown.dedup();
                let origin = self
                    .origins
                    .iter()
                    .find(|(k, _)| {
                        k.strip_prefix(lang.as_str())
                            .and_then(|k| k.strip_prefix('/'))
                            .is_some_and(|k| k.trim_start_matches('_') == name)
                    })
                    .map(|(_, o)| o.clone())
                    .unwrap_or_default();
                return Err(RenderError::UnknownVariable(
                    format!("{}/{name} ({origin})", lang.as_str()),
                    format!(
                        "{} (it may use: {})",
                        unknown.join(", "),
                        example
                            .as_object()
                            .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Renders a kind with its example data (`referent templates show KIND`).
    pub fn show(&self, lang: Language, kind: &str) -> Result<Rendered, RenderError> {
        let example = self.example(kind)?;
        self.render(lang, kind, &example)
    }

    /// The example data of a kind: every variable its templates may use, with the
    /// variables every template gets (`_common.json`).
    pub fn example(&self, kind: &str) -> Result<serde_json::Value, RenderError> {
        let mut v = self
            .examples
            .get("_common")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        let own = self
            .examples
            .get(kind)
            .ok_or_else(|| RenderError::Unknown(format!("examples/{kind}.json"), known_names()))?;
        merge(&mut v, own);
        Ok(v)
    }

    /// Where the template of a kind in a language comes from (`embedded` or a file).
    pub fn origin(&self, lang: Language, kind: &str) -> Option<&str> {
        self.origins
            .get(&format!("{}/{kind}", lang.as_str()))
            .map(String::as_str)
    }

    pub fn render<T: Serialize>(
        &self,
        lang: Language,
        template: &str,
        ctx: &T,
    ) -> Result<Rendered, RenderError> {
        let name = format!("{}/{template}", lang.as_str());
        let hb = self
            .registries
            .iter()
            .find(|(l, _)| *l == lang)
            .map(|(_, hb)| hb)
            .ok_or_else(|| RenderError::Unknown(name.clone(), known_names()))?;
        let text = hb
            .render(template, ctx)
            .map_err(|e| RenderError::Render(name.clone(), Box::new(e)))?;
        let (first, rest) = text
            .split_once('\n')
            .ok_or_else(|| RenderError::NoSubject(name.clone()))?;
        let subject = first
            .strip_prefix("Subject:")
            .ok_or_else(|| RenderError::NoSubject(name.clone()))?
            .trim()
            .to_string();
        let body = rest.strip_prefix('\n').unwrap_or(rest).to_string();
        Ok(Rendered { subject, body })
    }

    /// Renders a piece of template text with a language's partials and helpers, for
    /// tests of the partials (`{{> answer answer}}`).
    #[cfg(test)]
    pub(crate) fn render_snippet<T: Serialize>(
        &self,
        lang: Language,
        text: &str,
        ctx: &T,
    ) -> Result<String, RenderError> {
        let hb = self
            .registries
            .iter()
            .find(|(l, _)| *l == lang)
            .map(|(_, hb)| hb)
            .ok_or_else(|| RenderError::Unknown(lang.as_str().into(), known_names()))?;
        hb.render_template(text, ctx)
            .map_err(|e| RenderError::Render(text.to_string(), Box::new(e)))
    }

    /// Renders a kind with the data a workflow gave it and the variables every template
    /// gets. In debug builds (the test suite) a variable missing from the kind's example
    /// data is an error, so the examples stay the complete list `templates check` and
    /// a coordinator writing an override go by.
    pub fn render_kind(
        &self,
        lang: Language,
        kind: &str,
        common: &Common,
        data: &serde_json::Value,
    ) -> Result<Rendered, RenderError> {
        let mut ctx = serde_json::to_value(common)
            .map_err(|e| RenderError::Example(kind.to_string(), e.to_string()))?;
        merge(&mut ctx, data);
        if cfg!(debug_assertions) {
            let example = self.example(kind)?;
            let undeclared = undeclared(&example, &ctx);
            if !undeclared.is_empty() {
                return Err(RenderError::Undeclared(
                    format!("{}/{kind}", lang.as_str()),
                    undeclared.join(", "),
                ));
            }
        }
        self.render(lang, kind, &ctx)
    }
}

/// The variables every template gets.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Common {
    /// The recipient's first name, to greet by.
    pub name: String,
    /// The recipient's whole name.
    pub full_name: String,
    /// The secretariat's name, to sign with.
    pub secretariat: String,
    /// `[secretariat] signature_name`: the coordinator who signs the mail, above the
    /// secretariat's name (`_signoff.hbs`, `_signature.hbs`); none, no signature.
    pub signature_name: Option<String>,
    /// `[secretariat] signature_contact`: how to reach them (a phone number, an
    /// address), under the name.
    pub signature_contact: Option<String>,
}

/// Keys of `data` (recursively through objects) that `example` does not have.
fn undeclared(example: &serde_json::Value, data: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(e: &serde_json::Value, d: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        match (e, d) {
            (serde_json::Value::Object(e), serde_json::Value::Object(d)) => {
                for (k, v) in d {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    match e.get(k) {
                        Some(ev) => walk(ev, v, &p, out),
                        None => out.push(p),
                    }
                }
            }
            (serde_json::Value::Array(e), serde_json::Value::Array(d)) => {
                if let Some(first) = e.first() {
                    for v in d {
                        walk(first, v, &format!("{path}[]"), out);
                    }
                }
            }
            _ => {}
        }
    }
    walk(example, data, "", &mut out);
    out.sort();
    out.dedup();
    out
}

fn merge(into: &mut serde_json::Value, from: &serde_json::Value) {
    if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn known_names() -> String {
    let mut k: Vec<String> = embedded::EMBEDDED
        .iter()
        .filter(|(folder, _, _)| *folder == "nb")
        .map(|(_, stem, _)| format!("{stem}.hbs"))
        .collect();
    k.dedup();
    k.join(", ")
}

/// Files an editor or the system leaves beside ours: `x.hbs~`, `.x.hbs.swp`, `#x#`.
fn is_backup(name: &str) -> bool {
    name.starts_with('.') || name.ends_with('~') || name.starts_with('#') || name.ends_with(".bak")
}

/// "did you mean summons.hbs?" for a name close to a known one, else the list.
fn suggestion(stem: &str) -> String {
    let lower = stem.to_lowercase();
    let close = embedded::EMBEDDED
        .iter()
        .filter(|(folder, _, _)| *folder == "nb")
        .map(|(_, known, _)| *known)
        .find(|known| *known == lower || distance(known, &lower) <= 2);
    match close {
        Some(k) => format!("did you mean {k}.hbs? (names are lower case)"),
        None => format!("known: {}", known_names()),
    }
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// The `.hbs` files of an override folder: `DIR/{nb,nn,en}/KIND.hbs`.
#[allow(clippy::type_complexity)]
fn read_overrides(
    dir: &std::path::Path,
) -> Result<Vec<((String, String), String, String)>, RenderError> {
    let err = |e| RenderError::Folder(dir.display().to_string(), e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let path = entry.path();
        let folder = entry.file_name().to_string_lossy().to_string();
        // A copy of the shipped folder keeps `examples/`: the variables each kind gets
        // are the daemon's, so they are read from the build, not from there.
        if is_backup(&folder) || (folder == "examples" && path.is_dir()) {
            continue;
        }
        if !path.is_dir() {
            return Err(RenderError::Unknown(
                path.display().to_string(),
                "a template folder holds the folders nb, nn and en".into(),
            ));
        }
        if language_of(&folder).is_none() {
            return Err(RenderError::Unknown(
                path.display().to_string(),
                "the language folders are nb, nn and en".into(),
            ));
        }
        for file in std::fs::read_dir(&path).map_err(err)? {
            let file = file.map_err(err)?;
            let p = file.path();
            let origin = p.display().to_string();
            // An editor's backup or swap file beside the template is not a template.
            if is_backup(&file.file_name().to_string_lossy()) {
                continue;
            }
            let stem = match (
                p.extension().and_then(|e| e.to_str()),
                p.file_stem().and_then(|s| s.to_str()),
            ) {
                (Some("hbs"), Some(stem)) => stem.to_string(),
                _ => {
                    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                    return Err(RenderError::Unknown(
                        format!("{origin} (templates end in .hbs)"),
                        suggestion(stem),
                    ));
                }
            };
            let text =
                std::fs::read_to_string(&p).map_err(|e| RenderError::Folder(origin.clone(), e))?;
            out.push(((folder.clone(), stem), text, origin));
        }
    }
    Ok(out)
}

/// The variables, helpers and partials a template names, found by walking its syntax
/// tree and checked against the example data — every branch, not only the one the
/// example takes, so a typo in the observers' paragraph is found at start-up.
mod variables {
    use std::collections::BTreeSet;

    use handlebars::template::{
        DecoratorTemplate, HelperTemplate, Parameter, Template, TemplateElement,
    };
    use serde_json::Value;

    pub(super) const HELPERS: &[&str] = &[
        "if",
        "unless",
        "each",
        "with",
        "lookup",
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "and",
        "or",
        "not",
        "len",
        "long_date",
        "day_month",
        "numeric_date",
        "clock",
        "utc_offset",
        "plural",
        "log",
        "else",
    ];

    /// Pushes onto `out` what `tpl` names that does not exist: a variable the example
    /// lacks (a field of a loop's element is checked against the example's first
    /// element), a helper that is not registered, a partial there is no file for.
    pub(super) fn unknown(
        tpl: &Template,
        example: &Value,
        partials: &BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        for e in &tpl.elements {
            match e {
                TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                    helper(h, example, out)
                }
                TemplateElement::PartialExpression(d) | TemplateElement::PartialBlock(d) => {
                    partial(d, example, partials, out)
                }
                TemplateElement::HelperBlock(h) => {
                    helper(h, example, out);
                    let inner = match &h.name {
                        Parameter::Name(n) if n == "each" => {
                            Some(element(h.params.first(), example, true))
                        }
                        Parameter::Name(n) if n == "with" => {
                            Some(element(h.params.first(), example, false))
                        }
                        _ => None,
                    };
                    match inner {
                        // The body runs with the element as its context; `{{else}}`
                        // with the outer one.
                        Some(ctx) => {
                            for t in h.template.iter() {
                                unknown(t, &ctx, partials, out);
                            }
                            for t in h.inverse.iter() {
                                unknown(t, example, partials, out);
                            }
                        }
                        None => {
                            for t in h.template.iter().chain(h.inverse.iter()) {
                                unknown(t, example, partials, out);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// What a loop's body sees: the first element of the array (`each`) or the value
    /// itself (`with`); nothing known (Null) when the example has none.
    fn element(p: Option<&Parameter>, example: &Value, each: bool) -> Value {
        let Some(Parameter::Path(path)) = p else {
            return Value::Null;
        };
        let v = resolve(&path_text(path), example).unwrap_or(Value::Null);
        match (each, v) {
            (true, Value::Array(a)) => a.into_iter().next().unwrap_or(Value::Null),
            (true, Value::Object(o)) => o.into_iter().next().map(|(_, v)| v).unwrap_or(Value::Null),
            (false, v) => v,
            _ => Value::Null,
        }
    }

    fn partial(
        d: &DecoratorTemplate,
        example: &Value,
        partials: &BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if let Parameter::Name(n) = &d.name {
            if !partials.contains(n) {
                out.push(format!("{{{{> {n}}}}} (no partial _{n}.hbs)"));
            }
        }
        for p in d.params.iter().chain(d.hash.values()) {
            param(p, example, out);
        }
    }

    fn helper(h: &HelperTemplate, example: &Value, out: &mut Vec<String>) {
        match &h.name {
            Parameter::Name(n) if HELPERS.contains(&n.as_str()) => {}
            Parameter::Name(n) if h.params.is_empty() && h.hash.is_empty() && !h.block => {
                name(n, example, out)
            }
            Parameter::Name(n) => out.push(format!(
                "{n} (not a helper; the helpers are {})",
                HELPERS.join(", ")
            )),
            Parameter::Path(p) => name(&path_text(p), example, out),
            _ => {}
        }
        for p in h.params.iter().chain(h.hash.values()) {
            param(p, example, out);
        }
    }

    fn param(p: &Parameter, example: &Value, out: &mut Vec<String>) {
        match p {
            Parameter::Path(p) => name(&path_text(p), example, out),
            Parameter::Subexpression(s) => {
                let n = s.name();
                if !HELPERS.contains(&n) {
                    out.push(format!(
                        "{n} (not a helper; the helpers are {})",
                        HELPERS.join(", ")
                    ));
                }
                for p in s.params().into_iter().flatten() {
                    param(p, example, out);
                }
            }
            _ => {}
        }
    }

    fn path_text(p: &handlebars::Path) -> String {
        match p {
            handlebars::Path::Relative((_, raw)) => raw.clone(),
            handlebars::Path::Local((_, _, raw)) => raw.clone(),
        }
    }

    /// The example's value at a path (`answer.response`, `this.label`).
    fn resolve(raw: &str, example: &Value) -> Option<Value> {
        let raw = raw
            .strip_prefix("this.")
            .or_else(|| raw.strip_prefix("this/"))
            .unwrap_or(raw);
        if raw == "this" {
            return Some(example.clone());
        }
        let mut v = example;
        for seg in raw.split(['.', '/']) {
            v = v.as_object()?.get(seg)?;
        }
        Some(v.clone())
    }

    fn name(raw: &str, example: &Value, out: &mut Vec<String>) {
        // Loop variables and the parent context are not checked.
        if raw.starts_with('@') || raw.starts_with("..") {
            return;
        }
        // Where nothing is known of the context (a loop over a list the example leaves
        // empty), nothing can be said.
        if example.is_null() {
            return;
        }
        if resolve(raw, example).is_none() {
            out.push(raw.to_string());
        }
    }
}

/// Helpers the templates can use, in the registry's language: `{{long_date t}}`
/// ("tirsdag 12. januar 2027"), `{{day_month t}}` ("12. januar"), `{{numeric_date t}}`
/// ("12.01.2027", in English "12/01/2027"), `{{clock t}}` ("10:00") for a time
/// given as RFC 3339 with the secretariat's offset (`2027-01-12T10:00:00+01:00`), and
/// `{{plural n "sak" "saker"}}`.
mod helpers {
    use chrono::{DateTime, FixedOffset};
    use handlebars::{
        Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
    };

    use crate::domain::Language;

    fn time_param(
        h: &Helper<'_>,
        name: &'static str,
    ) -> Result<DateTime<FixedOffset>, RenderErrorReason> {
        let v = h
            .param(0)
            .and_then(|p| p.value().as_str())
            .ok_or(RenderErrorReason::ParamNotFoundForIndex(name, 0))?;
        DateTime::parse_from_rfc3339(v).map_err(|e| {
            RenderErrorReason::Other(format!("{name}: cannot read {v:?} as a time: {e}"))
        })
    }

    /// A helper that writes one time, formatted by `f` in the registry's language.
    fn time_helper(
        hb: &mut Handlebars<'static>,
        name: &'static str,
        lang: Language,
        f: fn(Language, &DateTime<FixedOffset>) -> String,
    ) {
        hb.register_helper(
            name,
            Box::new(
                move |h: &Helper<'_>,
                      _: &Handlebars<'_>,
                      _: &Context,
                      _: &mut RenderContext<'_, '_>,
                      out: &mut dyn Output|
                      -> HelperResult {
                    let t = time_param(h, name)?;
                    out.write(&f(lang, &t))?;
                    Ok(())
                },
            ),
        );
    }

    fn utc_offset(t: &DateTime<FixedOffset>) -> String {
        let secs = t.offset().local_minus_utc();
        let (sign, secs) = if secs < 0 { ('-', -secs) } else { ('+', secs) };
        match secs % 3600 {
            0 => format!("UTC{sign}{}", secs / 3600),
            m => format!("UTC{sign}{}:{:02}", secs / 3600, m / 60),
        }
    }

    pub(super) fn register(hb: &mut Handlebars<'static>, lang: Language) {
        time_helper(hb, "long_date", lang, super::format_local_date);
        time_helper(hb, "day_month", lang, super::format_local_day);
        time_helper(hb, "numeric_date", lang, |l, t| {
            let f = match l {
                Language::Nb | Language::Nn => "%d.%m.%Y",
                Language::En => "%d/%m/%Y",
            };
            t.format(f).to_string()
        });
        time_helper(hb, "clock", lang, |_, t| t.format("%H:%M").to_string());
        time_helper(hb, "utc_offset", lang, |_, t| utc_offset(t));
        hb.register_helper(
            "plural",
            Box::new(
                |h: &Helper<'_>,
                 _: &Handlebars<'_>,
                 _: &Context,
                 _: &mut RenderContext<'_, '_>,
                 out: &mut dyn Output|
                 -> HelperResult {
                    let n = h
                        .param(0)
                        .and_then(|p| p.value().as_i64())
                        .ok_or(RenderErrorReason::ParamNotFoundForIndex("plural", 0))?;
                    let idx = if n == 1 { 1 } else { 2 };
                    let word = h
                        .param(idx)
                        .and_then(|p| p.value().as_str())
                        .ok_or(RenderErrorReason::ParamNotFoundForIndex("plural", idx))?;
                    out.write(word)?;
                    Ok(())
                },
            ),
        );
    }
}

/// A message to coordinators: what happened, in a few lines.
#[derive(Debug, Clone, Serialize)]
pub struct NoticeText {
    pub subject: String,
    pub name: String,
    pub lines: Vec<String>,
    pub secretariat: String,
    pub signature_name: Option<String>,
    pub signature_contact: Option<String>,
}

/// What the templates can say about a meeting and its recipient.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingText {
    /// The language it is written in (not a template variable).
    #[serde(skip)]
    pub lang: Language,
    pub council: String,
    pub title: String,
    /// When the meeting starts and ends, as [`local_time`] writes them (for the
    /// `long_date` and `clock` helpers).
    pub starts: String,
    pub ends: String,
    pub room: Option<String>,
    pub link: Option<String>,
    pub name: String,
    pub secretariat: String,
    /// Whether the recipient is asked to answer (observers are not).
    pub asked: bool,
    pub agenda: Vec<String>,
    /// The answer a receipt records (`_answer.hbs` says it). Only a receipt has it:
    /// left out of the data otherwise, so a summons template that names it is refused
    /// by `templates check` instead of failing when the summons is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// The ways an unsure reply reads, for the question ("accepted", "declined" …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub readings: Vec<Response>,
    /// The recipient said "maybe" before (reminders say so).
    pub tentative: bool,
    /// The recipient's calendar answered an earlier time of a meeting that has moved
    /// (the question says so).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale_calendar: bool,
    /// Who sent us the recipient's answer, when it came forwarded (receipts say so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_by: Option<String>,
}

/// The name to greet someone by: "Kari" for "Kari Nordmann", "Per" for Outlook's
/// "Hansen, Per". Norwegian mail greets by first name.
///
/// A title is passed over ("Dr. Anne-Lise Bø" → "Anne-Lise"), and a name with a word
/// in lower case after its first ("Statsforvalteren i Oslo og Viken", "Den norske
/// legeforening") is an organisation's, greeted whole.
pub fn first_name(name: &str) -> String {
    // Someone known only by their address (a vara from a roster's `vara` column) is
    // greeted without a name, not by the address.
    if name.contains('@') {
        return String::new();
    }
    let n = match name.split_once(',') {
        Some((_, given)) if !given.trim().is_empty() => given.trim(),
        _ => name.trim(),
    };
    let words: Vec<&str> = n.split_whitespace().collect();
    if words
        .iter()
        .skip(1)
        .any(|w| w.chars().next().is_some_and(char::is_lowercase))
    {
        return words.join(" ");
    }
    const TITLES: &[&str] = &[
        "dr",
        "dr.",
        "prof",
        "prof.",
        "professor",
        "lege",
        "overlege",
    ];
    words
        .iter()
        .find(|w| !TITLES.contains(&w.to_lowercase().as_str()))
        .or(words.first())
        .map(|w| w.to_string())
        .unwrap_or_else(|| n.to_string())
}

const NB_DAYS: [&str; 7] = [
    "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag",
];
const NN_DAYS: [&str; 7] = [
    "måndag", "tysdag", "onsdag", "torsdag", "fredag", "laurdag", "sundag",
];
const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const NB_MONTHS: [&str; 12] = [
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "tirsdag 12. januar 2027" / "Tuesday 12 January 2027", in the meeting's time zone.
pub fn format_date(lang: Language, t: DateTime<Utc>, tz: Tz) -> String {
    format_local_date(lang, &t.with_timezone(&tz))
}

/// A time in the secretariat's zone as templates get it: RFC 3339 with the offset
/// (`2027-01-12T10:00:00+01:00`), for the `date`, `day` and `time` helpers.
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).fixed_offset().to_rfc3339()
}

/// "12. januar" / "12 January".
fn format_local_day<T: Datelike>(lang: Language, l: &T) -> String {
    let m = l.month0() as usize;
    match lang {
        Language::Nb | Language::Nn => format!("{}. {}", l.day(), NB_MONTHS.get(m).unwrap_or(&"")),
        Language::En => format!("{} {}", l.day(), EN_MONTHS.get(m).unwrap_or(&"")),
    }
}

fn format_local_date<T: Datelike>(lang: Language, l: &T) -> String {
    let wd = l.weekday().num_days_from_monday() as usize;
    let m = l.month0() as usize;
    match lang {
        // Weekday 0–6 and month 0–11 always index the tables; `get` keeps it so.
        Language::Nb => format!(
            "{} {}. {} {}",
            NB_DAYS.get(wd).unwrap_or(&""),
            l.day(),
            NB_MONTHS.get(m).unwrap_or(&""),
            l.year()
        ),
        Language::Nn => format!(
            "{} {}. {} {}",
            NN_DAYS.get(wd).unwrap_or(&""),
            l.day(),
            NB_MONTHS.get(m).unwrap_or(&""),
            l.year()
        ),
        Language::En => format!(
            "{} {} {} {}",
            EN_DAYS.get(wd).unwrap_or(&""),
            l.day(),
            EN_MONTHS.get(m).unwrap_or(&""),
            l.year()
        ),
    }
}

/// "10:00–12:00" in the meeting's time zone.
pub fn format_time_range(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> String {
    let s = start.with_timezone(&tz);
    let e = end.with_timezone(&tz);
    format!(
        "{:02}:{:02}–{:02}:{:02}",
        s.hour(),
        s.minute(),
        e.hour(),
        e.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders() {
        let r = Renderer::new().unwrap();
        let ctx = MeetingText {
            lang: Language::Nb,
            council: "Utdanningsrådet".into(),
            title: "Møte 1/2027".into(),
            starts: "2027-01-12T10:00:00+01:00".into(),
            ends: "2027-01-12T12:00:00+01:00".into(),
            room: Some("Ullevål sykehus, møterom 3".into()),
            link: Some("https://teams.example/x".into()),
            name: "Ola Nordmann".into(),
            secretariat: "RegUt HSØ".into(),
            asked: true,
            agenda: vec!["Sak 1/27 Godkjenning av innkalling og saksliste".into()],
            answer: Some(Answer {
                response: Response::Accepted,
                attendance: None,
                substitute: None,
            }),
            readings: vec![],
            tentative: false,
            stale_calendar: false,
            forwarded_by: None,
        };
        let s = r.render(Language::Nb, "summons", &ctx).unwrap();
        assert_eq!(
            s.subject,
            "Innkalling: Utdanningsrådet tirsdag 12. januar 2027"
        );
        assert!(s.body.contains("Sted:  Ullevål sykehus, møterom 3"));
        assert!(s.body.contains("Sak 1/27"));
        assert!(s.body.contains("Melder forfall"));
        assert!(
            s.body
                .contains("Digitalt: https://teams.example/x\n\nSaksliste:\n  Sak 1/27"),
            "{}",
            s.body
        );
        assert!(
            s.body.ends_with("\n\nMed vennlig hilsen\nRegUt HSØ\n"),
            "{}",
            s.body
        );
        let observer = MeetingText {
            asked: false,
            agenda: vec![],
            ..ctx.clone()
        };
        let o = r.render(Language::Nb, "summons", &observer).unwrap();
        assert!(o.body.contains("til orientering") && !o.body.contains("Melder forfall"));
        let e = r.render(Language::En, "receipt", &ctx).unwrap();
        assert!(e.body.contains("\n  You will attend.\n"), "{}", e.body);
        assert_eq!(
            e.subject,
            "Answer recorded: Utdanningsrådet Tuesday 12 January 2027"
        );
        let nn = r.render(Language::Nn, "summons", &ctx).unwrap();
        assert!(
            nn.body
                .contains("Når:   tysdag 12. januar 2027 kl. 10:00–12:00"),
            "{}",
            nn.body
        );
    }

    /// What a receipt says it recorded, for every kind of answer, in each language.
    #[test]
    fn an_answer_is_said_by_the_partial() {
        use crate::domain::{Attendance, Substitute};
        let r = Renderer::new().unwrap();
        let say = |lang, a: Answer| {
            let data = serde_json::json!({"answer": a, "who": "Ola Nordmann"});
            (
                r.render_snippet(lang, "{{> answer answer}}.", &data)
                    .unwrap(),
                r.render_snippet(lang, "{{> answer_of answer who=who}}.", &data)
                    .unwrap(),
            )
        };
        let a = |response, attendance, substitute| Answer {
            response,
            attendance,
            substitute,
        };
        let per = Some(Substitute {
            name: "Per Vara".into(),
            email: Some("per@hf.example".into()),
        });
        let nameless = Some(Substitute {
            name: "Per Vara".into(),
            email: None,
        });
        for (lang, answer, own, told) in [
            (Language::Nb, a(Response::Accepted, None, None), "Du kommer.", "Ola Nordmann kommer."),
            (Language::Nb, a(Response::Accepted, Some(Attendance::Digital), None), "Du deltar digitalt.", "Ola Nordmann deltar digitalt."),
            (Language::Nb, a(Response::Accepted, Some(Attendance::InPerson), None), "Du kommer og møter fysisk.", "Ola Nordmann kommer."),
            (Language::Nb, a(Response::Declined, None, None), "Du har meldt forfall.", "Ola Nordmann har meldt forfall."),
            (Language::Nb, a(Response::Tentative, None, None), "Du vet ennå ikke om du kan komme.", "Ola Nordmann vet ennå ikke om hen kan komme."),
            (Language::Nb, a(Response::Declined, None, per.clone()), "Du har forfall, og Per Vara <per@hf.example> møter for deg.", "Ola Nordmann har forfall, og Per Vara <per@hf.example> møter i stedet."),
            (Language::Nb, a(Response::Declined, None, nameless.clone()), "Du har forfall, og Per Vara møter for deg. Vi har ikke e-postadressen til Per Vara: svar med den, så sender vi innkallingen.", "Ola Nordmann har forfall, og Per Vara møter i stedet."),
            (Language::Nn, a(Response::Accepted, None, None), "Du kjem.", "Ola Nordmann kjem."),
            (Language::Nn, a(Response::Tentative, None, None), "Du veit enno ikkje om du kan kome.", "Ola Nordmann veit enno ikkje om hen kan kome."),
            (Language::En, a(Response::Accepted, Some(Attendance::Digital), None), "You will attend online.", "Ola Nordmann attends online."),
            (Language::En, a(Response::Declined, None, per), "You cannot attend, and Per Vara <per@hf.example> will attend in your place.", "Ola Nordmann cannot attend, and Per Vara <per@hf.example> attends instead."),
            (Language::En, a(Response::Declined, None, nameless), "You cannot attend, and Per Vara will attend in your place. We do not have Per Vara's email address: reply with it, and we send them the summons.", "Ola Nordmann cannot attend, and Per Vara attends instead."),
        ] {
            assert_eq!(say(lang, answer), (own.to_string(), told.to_string()));
        }
    }

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = d.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        d
    }

    #[test]
    fn an_override_replaces_one_kind_in_one_language() {
        let d = folder(&[
            (
                "nn/summons.hbs",
                "Subject: Møte {{council}}\n\n{{> greeting}}\nVel møtt {{long_date starts}}\n{{> signoff}}",
            ),
            // A copy of the shipped folder brings its examples along: not templates.
            ("examples/summons.json", "{}"),
        ]);
        let r = Renderer::with_overrides(Some(d.path())).unwrap();
        let nn = r.show(Language::Nn, "summons").unwrap();
        assert_eq!(nn.subject, "Møte Utdanningsrådet");
        assert!(nn.body.starts_with("Hei Kari,\nVel møtt"), "{}", nn.body);
        assert!(
            nn.body
                .ends_with("Med venleg helsing\nEldbjørg Koordinator\ntlf. 23 07 00 00 · eldbjorg.koordinator@regut.example\nRegUt Helse Sør-Øst\n"),
            "{}",
            nn.body
        );
        let nb = r.show(Language::Nb, "summons").unwrap();
        assert!(nb.body.contains("Du er innkalt"), "nb is still built in");
        assert_eq!(r.origin(Language::Nb, "summons"), Some("embedded"));
        assert!(r
            .origin(Language::Nn, "summons")
            .unwrap()
            .ends_with("nn/summons.hbs"));
    }

    #[test]
    fn an_override_with_an_unknown_name_variable_or_syntax_is_refused() {
        for (files, want) in [
            (
                vec![("nb/sumons.hbs", "Subject: x\n\ny")],
                "no such template",
            ),
            (vec![("no/summons.hbs", "Subject: x\n\ny")], "nb, nn and en"),
            (
                vec![("nb/summons.hbs", "Subject: x\n\n{{counsil}}")],
                "counsil",
            ),
            (
                vec![("nb/summons.hbs", "Subject: x\n\n{{#if counsil}}y{{/if}}")],
                "counsil",
            ),
            (
                vec![("nb/summons.hbs", "Subject: x\n\n{{#if council}}y")],
                "does not compile",
            ),
            (vec![("nb/summons.hbs", "Hei {{name}}")], "Subject"),
            // Errors in a branch the example data does not take are found too.
            (
                vec![(
                    "nb/summons.hbs",
                    "Subject: x\n\n{{#if asked}}ja{{else}}{{long_dat starts}}{{/if}}",
                )],
                "long_dat (not a helper",
            ),
            (
                vec![(
                    "nb/summons.hbs",
                    "Subject: x\n\n{{#unless asked}}{{> greetng}}{{/unless}}",
                )],
                "no partial _greetng.hbs",
            ),
            (
                vec![(
                    "nb/summons.hbs",
                    "Subject: x\n\n{{#each agenda}}{{this.titel}}{{/each}}",
                )],
                "this.titel",
            ),
            (
                vec![(
                    "nb/summons.hbs",
                    "Subject: x\n\n{{#if answer}}{{answer.response}}{{/if}}",
                )],
                "answer",
            ),
            (
                vec![("nb/sumons.hbs", "Subject: x\n\ny")],
                "did you mean summons.hbs",
            ),
        ] {
            let d = folder(&files);
            let e = Renderer::with_overrides(Some(d.path()))
                .err()
                .map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains(want)),
                "{files:?}: {e:?}"
            );
        }
    }

    #[test]
    fn helpers_write_dates_in_the_registry_language() {
        let r = Renderer::new().unwrap();
        let t = local_time(
            "2027-01-12T09:00:00Z".parse().unwrap(),
            chrono_tz::Europe::Oslo,
        );
        assert_eq!(t, "2027-01-12T10:00:00+01:00");
        let d = folder(&[
            ("nn/notice.hbs", "Subject: {{long_date subject}} {{clock subject}}\n\n{{day_month subject}} {{plural 2 \"sak\" \"saker\"}}{{#each lines}}{{/each}}"),
        ]);
        let r2 = Renderer::with_overrides(Some(d.path()));
        // The example's subject is not a time: refused at start-up, with the reason.
        assert!(r2.is_err());
        let ctx = serde_json::json!({"subject": t, "lines": [], "name": "x", "full_name": "x", "secretariat": "x"});
        drop(r);
        let d = folder(&[(
            "nn/notice.hbs",
            "Subject: {{subject}}\n\n{{#each lines}}{{this}}{{/each}}",
        )]);
        let r = Renderer::with_overrides(Some(d.path())).unwrap();
        assert!(r.render(Language::Nn, "notice", &ctx).is_ok());
        assert_eq!(
            format_date(
                Language::Nn,
                "2027-01-12T09:00:00Z".parse().unwrap(),
                chrono_tz::Europe::Oslo
            ),
            "tysdag 12. januar 2027"
        );
    }

    #[test]
    fn greeting_names() {
        for (name, greet) in [
            ("Kari Nordmann", "Kari"),
            ("Hansen, Per", "Per"),
            ("Dr. Anne-Lise Bø", "Anne-Lise"),
            (
                "Statsforvalteren i Oslo og Viken",
                "Statsforvalteren i Oslo og Viken",
            ),
            ("Den norske legeforening", "Den norske legeforening"),
            ("Helsedirektoratet", "Helsedirektoratet"),
            ("", ""),
            // Known only by address: greeted without a name ("Hei,").
            ("per.olsen@ahus.example", ""),
        ] {
            assert_eq!(first_name(name), greet, "{name}");
        }
    }

    #[test]
    fn dates_in_oslo() {
        let t = "2027-01-12T09:00:00Z".parse().unwrap();
        let e = "2027-01-12T11:00:00Z".parse().unwrap();
        assert_eq!(
            format_date(Language::Nb, t, chrono_tz::Europe::Oslo),
            "tirsdag 12. januar 2027"
        );
        assert_eq!(
            format_time_range(t, e, chrono_tz::Europe::Oslo),
            "10:00–12:00"
        );
    }

    #[test]
    fn every_held_reason_has_its_own_words_in_every_language() {
        let r = Renderer::new().unwrap();
        for lang in LANGUAGES {
            let mut seen = std::collections::HashMap::new();
            for code in crate::domain::HeldReason::ALL {
                let data = serde_json::json!({"reason": code.as_str(), "logged": "LOGGED"});
                let words = r
                    .render_snippet(lang, "{{> held_reason this}}", &data)
                    .unwrap();
                let words = words.trim();
                assert!(
                    !words.is_empty() && !words.contains("LOGGED"),
                    "{lang:?} has no words for {code:?}"
                );
                if let Some(other) = seen.insert(words.to_string(), code) {
                    panic!("{lang:?} says {code:?} and {other:?} the same way");
                }
            }
        }
    }
}
