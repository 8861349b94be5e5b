//! docker's `--format` templates: the part of Go's text/template that
//! scripts use, over JSON values with docker's field names. Fields
//! (`.State.Status`, `.`), string and number literals, pipelines (`|`),
//! `range`/`if`/`else`/`end`, `{{-`/`-}}` trimming, and the functions
//! json, join, lower, upper, title, index, printf, len, split, println,
//! eq, ne, not, and, or.
//! Values print as Go prints them: `[a b]` for lists, `map[k:v]` for
//! objects, `<no value>` for a field that is not there.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    nodes: Vec<Node>,
    /// docker's `table` prefix: a header row, columns aligned.
    pub table: bool,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Action(Vec<Command>),
    Range(Vec<Command>, Vec<Node>),
    If(Vec<Command>, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    /// A parenthesised pipeline, and fields of its value: `(not .X)`,
    /// `(index .Log 0).Output`.
    Sub(Vec<Command>, Vec<String>),
    Str(String),
    Num(f64),
}

#[derive(Debug, Clone)]
struct Command {
    func: Option<String>,
    args: Vec<Arg>,
}

enum Token {
    Text(String),
    Action(String),
}

fn tokens(src: &str) -> Result<Vec<Token>> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        let mut text = rest[..open].to_string();
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| anyhow!("template: unclosed action in {src:?}"))?;
        let mut inner = &after[..close];
        if let Some(i) = inner.strip_prefix('-') {
            text = text.trim_end().to_string();
            inner = i;
        }
        let mut trim_next = false;
        if let Some(i) = inner.strip_suffix('-') {
            trim_next = true;
            inner = i;
        }
        out.push(Token::Text(text));
        out.push(Token::Action(inner.trim().to_string()));
        rest = &after[close + 2..];
        if trim_next {
            rest = rest.trim_start();
        }
    }
    out.push(Token::Text(rest.to_string()));
    Ok(out)
}

/// Words of an action: quoted strings kept whole, `|` its own word.
fn words(action: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '|' {
            chars.next();
            out.push("|".into());
        } else if c == '(' {
            let mut depth = 0;
            let mut w = String::new();
            for d in chars.by_ref() {
                w.push(d);
                match d {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
            if depth != 0 {
                bail!("template: unclosed ( in {{{{{action}}}}}");
            }
            // Fields of its value: `(index .Log 0).Output`.
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() || d == '|' || d == ')' {
                    break;
                }
                w.push(d);
                chars.next();
            }
            out.push(w);
        } else if c == '"' || c == '`' {
            chars.next();
            let mut s = String::from('"');
            let mut closed = false;
            while let Some(d) = chars.next() {
                if d == c {
                    closed = true;
                    break;
                }
                if d == '\\' && c == '"' {
                    match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(o) => s.push(o),
                        None => {}
                    }
                } else {
                    s.push(d);
                }
            }
            if !closed {
                bail!("template: unterminated string in {{{{{action}}}}}");
            }
            out.push(s);
        } else {
            let mut w = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() || d == '|' {
                    break;
                }
                w.push(d);
                chars.next();
            }
            out.push(w);
        }
    }
    Ok(out)
}

fn arg(word: &str) -> Result<Arg> {
    if word.starts_with('(') {
        let close = word
            .rfind(')')
            .ok_or_else(|| anyhow!("template: unclosed ( in {word}"))?;
        let path = match &word[close + 1..] {
            "" => Vec::new(),
            rest => match rest.strip_prefix('.') {
                Some(p) => p.split('.').map(str::to_string).collect(),
                None => bail!("template: cannot use {word:?} here (a field is written .Name)"),
            },
        };
        return Ok(Arg::Sub(pipeline(&word[1..close])?, path));
    }
    if let Some(s) = word.strip_prefix('"') {
        return Ok(Arg::Str(s.to_string()));
    }
    if word == "." {
        return Ok(Arg::Field(Vec::new()));
    }
    if let Some(path) = word.strip_prefix('.') {
        return Ok(Arg::Field(path.split('.').map(str::to_string).collect()));
    }
    if let Ok(n) = word.parse::<f64>() {
        return Ok(Arg::Num(n));
    }
    bail!("template: cannot use {word:?} here (a field is written .Name)")
}

fn pipeline(action: &str) -> Result<Vec<Command>> {
    let words = words(action)?;
    let mut cmds = Vec::new();
    for part in words.split(|w| w == "|") {
        let (first, rest) = part
            .split_first()
            .ok_or_else(|| anyhow!("template: empty command in {{{{{action}}}}}"))?;
        let cmd = if first.starts_with('.')
            || first.starts_with('"')
            || first.starts_with('(')
            || first.parse::<f64>().is_ok()
        {
            if !rest.is_empty() {
                bail!("template: {first} takes no arguments in {{{{{action}}}}}");
            }
            Command {
                func: None,
                args: vec![arg(first)?],
            }
        } else {
            Command {
                func: Some(first.clone()),
                args: rest.iter().map(|w| arg(w)).collect::<Result<_>>()?,
            }
        };
        cmds.push(cmd);
    }
    Ok(cmds)
}

/// Parses nodes up to an `end` or `else` (which it returns) or the end.
fn parse_nodes(toks: &mut std::iter::Peekable<std::vec::IntoIter<Token>>) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while let Some(t) = toks.next() {
        match t {
            Token::Text(s) => {
                if !s.is_empty() {
                    nodes.push(Node::Text(s))
                }
            }
            Token::Action(a) if a == "end" || a == "else" => return Ok((nodes, Some(a))),
            Token::Action(a) => {
                if let Some(p) = a.strip_prefix("range ") {
                    let (body, stop) = parse_nodes(toks)?;
                    if stop.as_deref() != Some("end") {
                        bail!("template: range without end");
                    }
                    nodes.push(Node::Range(pipeline(p)?, body));
                } else if let Some(p) = a.strip_prefix("if ") {
                    let (then, stop) = parse_nodes(toks)?;
                    let otherwise = match stop.as_deref() {
                        Some("else") => {
                            let (o, stop) = parse_nodes(toks)?;
                            if stop.as_deref() != Some("end") {
                                bail!("template: if without end");
                            }
                            o
                        }
                        Some("end") => Vec::new(),
                        _ => bail!("template: if without end"),
                    };
                    nodes.push(Node::If(pipeline(p)?, then, otherwise));
                } else if !a.starts_with("/*") {
                    nodes.push(Node::Action(pipeline(&a)?));
                }
            }
        }
    }
    Ok((nodes, None))
}

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        let (table, body) = match src.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, src),
        };
        // docker reads \t and \n in a format as tab and newline.
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut toks = tokens(&body)?.into_iter().peekable();
        let (nodes, stop) = parse_nodes(&mut toks)?;
        if let Some(s) = stop {
            bail!("template: unexpected {{{{{s}}}}}");
        }
        Ok(Template { nodes, table })
    }

    pub fn render(&self, dot: &Value) -> Result<String> {
        let mut out = String::new();
        render_nodes(&self.nodes, dot, &mut out)?;
        Ok(out)
    }

    /// The header of a `table` template: each field's last name, upper case
    /// (docker's `{{.Names}}` heads NAMES).
    pub fn header(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(cmds) => {
                    let name = cmds
                        .iter()
                        .flat_map(|c| c.args.iter())
                        .find_map(|a| match a {
                            Arg::Field(p) => p.last().cloned(),
                            _ => None,
                        })
                        .unwrap_or_default();
                    out.push_str(&name.to_uppercase());
                }
                _ => {}
            }
        }
        out
    }
}

fn render_nodes(nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&show(&run(p, dot)?)),
            Node::Range(p, body) => match run(p, dot)? {
                Value::Array(items) => {
                    for item in &items {
                        render_nodes(body, item, out)?;
                    }
                }
                Value::Object(map) => {
                    for v in map.values() {
                        render_nodes(body, v, out)?;
                    }
                }
                Value::Null => {}
                other => bail!("template: range over {}", show(&other)),
            },
            Node::If(p, then, otherwise) => {
                let branch = if truthy(&run(p, dot)?) { then } else { otherwise };
                render_nodes(branch, dot, out)?;
            }
        }
    }
    Ok(())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A field path; a missing key is null (printed `<no value>`).
fn field(dot: &Value, path: &[String]) -> Result<Value> {
    let mut v = dot;
    for name in path {
        v = match v {
            Value::Object(m) => match m.get(name) {
                Some(x) => x,
                None => return Ok(Value::Null),
            },
            Value::Null => return Ok(Value::Null),
            other => bail!("template: can't evaluate field {name} in {}", show(other)),
        };
    }
    Ok(v.clone())
}

fn run(cmds: &[Command], dot: &Value) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for c in cmds {
        let mut args = c
            .args
            .iter()
            .map(|a| match a {
                Arg::Field(p) => field(dot, p),
                Arg::Sub(p, path) => run(p, dot).and_then(|v| field(&v, path)),
                Arg::Str(s) => Ok(Value::String(s.clone())),
                Arg::Num(n) => Ok(serde_json::json!(n)),
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(p) = prev.take() {
            args.push(p);
        }
        prev = Some(match &c.func {
            None => args.pop().unwrap_or(Value::Null),
            Some(f) => call(f, args)?,
        });
    }
    Ok(prev.unwrap_or(Value::Null))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => show(other),
    }
}

fn call(f: &str, args: Vec<Value>) -> Result<Value> {
    let one = |args: &[Value]| -> Result<Value> {
        match args {
            [v] => Ok(v.clone()),
            _ => bail!("template: {f} takes one argument"),
        }
    };
    Ok(match f {
        "json" => Value::String(serde_json::to_string(&one(&args)?)?),
        "lower" => Value::String(text(&one(&args)?).to_lowercase()),
        "upper" => Value::String(text(&one(&args)?).to_uppercase()),
        "title" => {
            let s = text(&one(&args)?);
            let mut c = s.chars();
            Value::String(
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default(),
            )
        }
        "len" => Value::from(match one(&args)? {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            Value::String(s) => s.len(),
            other => bail!("template: len of {}", show(&other)),
        }),
        "join" => match args.as_slice() {
            [Value::Array(a), sep] => Value::String(a.iter().map(text).collect::<Vec<_>>().join(&text(sep))),
            [Value::Null, _] => Value::String(String::new()),
            _ => bail!("template: join takes a list and a separator"),
        },
        "split" => match args.as_slice() {
            [s, sep] => Value::Array(text(s).split(&text(sep)).map(|p| Value::String(p.into())).collect()),
            _ => bail!("template: split takes a string and a separator"),
        },
        "index" => {
            let (first, keys) = args
                .split_first()
                .ok_or_else(|| anyhow!("template: index of nothing"))?;
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::Object(m), k) => m.get(&text(k)).cloned().unwrap_or(Value::Null),
                    (Value::Array(a), Value::Number(n)) => a
                        .get(n.as_f64().unwrap_or(-1.0) as usize)
                        .cloned()
                        .ok_or_else(|| anyhow!("template: index {n} out of range"))?,
                    _ => bail!("template: cannot index {} with {}", show(&v), show(k)),
                };
            }
            v
        }
        "printf" => {
            let (fmt, rest) = args
                .split_first()
                .ok_or_else(|| anyhow!("template: printf needs a format"))?;
            Value::String(printf(&text(fmt), rest))
        }
        "println" => Value::String(args.iter().map(text).collect::<Vec<_>>().join(" ") + "\n"),
        "eq" => match args.split_first() {
            Some((a, rest)) if !rest.is_empty() => Value::Bool(rest.iter().any(|b| same(a, b))),
            _ => bail!("template: eq takes two or more arguments"),
        },
        "ne" => match args.as_slice() {
            [a, b] => Value::Bool(!same(a, b)),
            _ => bail!("template: ne takes two arguments"),
        },
        "not" => Value::Bool(!truthy(&one(&args)?)),
        "and" => args
            .iter()
            .find(|v| !truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|v| truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        other => bail!("template: function {other:?} not defined"),
    })
}

/// Go's eq: numbers by value (JSON has one kind of number), else equal.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Go's %s %d %v %q and %%, enough for what scripts print.
fn printf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('q') => out.push_str(&format!("{:?}", args.next().map(text).unwrap_or_default())),
            Some(_) => out.push_str(&args.next().map(text).unwrap_or_else(|| "%!(MISSING)".into())),
            None => out.push('%'),
        }
    }
    out
}

/// A value as Go's fmt prints it.
pub fn show(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let items: Vec<String> = keys.iter().map(|k| format!("{k}:{}", show(&o[*k]))).collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Renders `items` with `format` (docker's `--format`): `json` one JSON
/// document per line, a `table` template with a header and aligned
/// columns, else one rendered line per item.
/// An `inspect` command's documents: a pretty JSON array without
/// `--format`, a compact one with `json`, else the template for each.
pub fn print_documents(format: Option<&str>, docs: &[Value]) -> Result<()> {
    match format {
        None => println!("{}", serde_json::to_string_pretty(docs)?),
        Some("json") => println!("{}", serde_json::to_string(docs)?),
        Some(f) => print_all(f, docs)?,
    }
    Ok(())
}

pub fn print_all(format: &str, items: &[Value]) -> Result<()> {
    if format == "json" {
        for i in items {
            println!("{}", serde_json::to_string(i)?);
        }
        return Ok(());
    }
    let t = Template::parse(format)?;
    let mut lines = Vec::with_capacity(items.len() + 1);
    if t.table {
        lines.push(t.header());
    }
    for i in items {
        lines.push(t.render(i)?);
    }
    if t.table {
        print!("{}", align(&lines));
    } else {
        for l in lines {
            println!("{l}");
        }
    }
    Ok(())
}

/// Tab-separated cells padded into columns (docker's tabwriter, padding 3).
fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let last = r.len().saturating_sub(1);
        for (c, cell) in r.iter().enumerate() {
            out.push_str(cell);
            if c < last {
                out.push_str(&" ".repeat(widths[c] - cell.chars().count() + 3));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: Value) -> String {
        Template::parse(t).unwrap().render(&v).unwrap()
    }

    #[test]
    fn what_scripts_write() {
        let c = json!({"Name": "/web", "State": {"Status": "running", "ExitCode": 0, "Pid": 42},
                       "Config": {"Env": ["A=1", "B=2"], "Labels": {"a.b": "x"}},
                       "Mounts": [{"Source": "/s", "RW": true}, {"Source": "/t", "RW": false}]});
        assert_eq!(
            r("{{.State.Status}} {{.State.ExitCode}} {{.Name}}", c.clone()),
            "running 0 /web"
        );
        assert_eq!(
            r("{{json .State}}", c.clone()),
            r#"{"Status":"running","ExitCode":0,"Pid":42}"#
        );
        assert_eq!(r("{{.Config.Env}}", c.clone()), "[A=1 B=2]");
        let h = json!({"Log": [{"Output": "first"}, {"Output": "second"}]});
        assert_eq!(r("{{(index .Log 1).Output}}", h.clone()), "second");
        assert_eq!(r("{{(index .Log 0).Output | upper}}", h.clone()), "FIRST");
        assert!(Template::parse("{{(index .Log 0)x}}").is_err());
        assert_eq!(r("{{join .Config.Env \",\"}}", c.clone()), "A=1,B=2");
        assert_eq!(r("{{index .Config.Labels \"a.b\"}}", c.clone()), "x");
        assert_eq!(
            r("{{range .Mounts}}{{.Source}}:{{.RW}} {{end}}", c.clone()),
            "/s:true /t:false "
        );
        assert_eq!(r("{{if .State.Pid}}up{{else}}down{{end}}", c.clone()), "up");
        assert_eq!(r("{{.State.Status | upper}}", c.clone()), "RUNNING");
        assert_eq!(r("{{printf \"%s=%d\" .Name .State.Pid}}", c.clone()), "/web=42");
        assert_eq!(r("{{len .Mounts}} {{.Nope}}", c.clone()), "2 <no value>");
        assert_eq!(r("{{- .Name -}}  \n", c.clone()), "/web");
        assert_eq!(
            r("{{if eq .State.Status \"running\" \"paused\"}}live{{end}}", c.clone()),
            "live"
        );
        assert_eq!(r("{{if ne .State.ExitCode 0}}failed{{else}}ok{{end}}", c.clone()), "ok");
        assert_eq!(r("{{if and .State.Pid (not .Nope)}}x{{end}}", c.clone()), "x");
        assert_eq!(r("{{json .}}", json!({"a": [1]})), r#"{"a":[1]}"#);
    }

    #[test]
    fn tables_have_headers_and_columns() {
        let t = Template::parse("table {{.Names}}\\t{{.Image}}").unwrap();
        assert!(t.table);
        assert_eq!(t.header(), "NAMES\tIMAGE");
        assert_eq!(
            align(&["NAMES\tIMAGE".into(), "a\tbusybox".into()]),
            "NAMES   IMAGE\na       busybox\n"
        );
    }

    #[test]
    fn mistakes_are_errors() {
        for bad in ["{{.A", "{{range .A}}", "{{nosuch .A}}", "{{end}}", "{{\"x}}"] {
            let t = Template::parse(bad);
            let failed = t.is_err() || t.unwrap().render(&json!({"A": 1})).is_err();
            assert!(failed, "{bad}");
        }
    }
}
