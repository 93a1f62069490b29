//! The query language's parser: tokens into a [`Query`] or a condition's [`Filter`], refusing
//! anything outside the hub's subset by name and position.

use std::fmt;

use serde_json::Value;

use super::{
    Collection, Expr, Filter, Path, Query, Refusal, Select,
    lexer::{Token, number, tokens},
};

/// How deeply parentheses and `NOT`s may nest: more than any written condition needs, and a
/// bound on the parser's recursion, so that `((((…` is refused instead of overflowing the stack.
/// The words that are literals, not properties, on the right of a comparison.
const LITERAL_WORDS: [&str; 4] = ["TRUE", "FALSE", "NULL", "undefined"];

pub(super) const MAX_DEPTH: usize = 32;

/// The keywords, which no path may start with.
const KEYWORDS: [&str; 14] = [
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "NIN",
    "AS",
    "COUNT",
    "IS_DEFINED",
    "TRUE",
    "FALSE",
    "NULL",
];

/// A twin's top-level fields, which a query may name in any case.
const TWIN_FIELDS: &[&str] = &[
    "deviceId",
    "moduleId",
    "etag",
    "deviceEtag",
    "status",
    "statusReason",
    "statusUpdateTime",
    "connectionState",
    "lastActivityTime",
    "cloudToDeviceMessageCount",
    "authenticationType",
    "x509Thumbprint",
    "version",
    "tags",
    "properties",
    "capabilities",
    "modelId",
    "deviceScope",
    "parentScopes",
];

/// A device-job row's fields, which a query may name in any case.
const ROW_FIELDS: &[&str] = &[
    "deviceId",
    "jobId",
    "jobType",
    "status",
    "startTimeUtc",
    "endTimeUtc",
    "createdDateTimeUtc",
    "lastUpdatedDateTimeUtc",
    "outcome",
    "error",
];

pub(super) struct Parser<'a> {
    tokens: Vec<(usize, Token<'a>)>,
    next: usize,
    /// The text's length: the position of its end.
    len: usize,
    depth: usize,
    /// Which documents paths are relative to.
    scope: Collection,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Self, Refusal> {
        Ok(Self {
            tokens: tokens(text)?,
            next: 0,
            len: text.len(),
            depth: 0,
            scope: Collection::Devices,
        })
    }

    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.next).map(|(_, token)| token)
    }

    fn peek_second(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.next + 1).map(|(_, token)| token)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).map_or(self.len, |(at, _)| *at)
    }

    fn advance(&mut self) {
        self.next += 1;
    }

    fn refusal(&self, message: impl fmt::Display) -> Refusal {
        Refusal(format!("at byte {}: {message}", self.position()))
    }

    fn expected(&self, expected: &str) -> Refusal {
        match self.peek() {
            Some(token) => self.refusal(format_args!("expected {expected}, found {token}")),
            None => self.refusal(format_args!(
                "expected {expected}, found the end of the text"
            )),
        }
    }

    fn unsupported(&self, what: impl fmt::Display) -> Refusal {
        self.refusal(format_args!("{what} is not supported by the local hub"))
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword))
    }

    fn keyword(&mut self, keyword: &str) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), Refusal> {
        if self.keyword(keyword) {
            Ok(())
        } else {
            Err(self.expected(keyword))
        }
    }

    fn eat(&mut self, token: &Token<'_>) -> bool {
        let found = self.peek() == Some(token);
        if found {
            self.advance();
        }
        found
    }

    fn expect(&mut self, token: &Token<'_>, expected: &str) -> Result<(), Refusal> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    fn end(&self, expected: &str) -> Result<(), Refusal> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.expected(expected)),
        }
    }

    fn query(mut self) -> Result<Query, Refusal> {
        self.expect_keyword("SELECT")?;
        if self.at_keyword("TOP") {
            return Err(self.unsupported("TOP"));
        }
        let select_at = self.position();
        let select = self.select()?;
        self.expect_keyword("FROM")?;
        let from = self.collection()?;
        if from == Collection::DeviceJobs && select != Select::All {
            return Err(Refusal(format!(
                "at byte {select_at}: expected `*`: a devices.jobs query can only SELECT *"
            )));
        }
        self.scope = from;
        let filter = if self.keyword("WHERE") {
            Filter(Some(self.expr()?))
        } else {
            Filter::every()
        };
        let select = if self.at_keyword("GROUP") {
            self.grouped(select)?
        } else if let Select::Grouped { .. } = select {
            return Err(Refusal(format!(
                "at byte {select_at}: COUNT() beside other fields needs GROUP BY those fields"
            )));
        } else {
            select
        };
        if self.at_keyword("ORDER") {
            return Err(self.unsupported("ORDER BY"));
        }
        self.end(match (&filter.0, &select) {
            (_, Select::Grouped { .. }) => "`,` or the end of the query",
            (None, _) => "WHERE, GROUP BY or the end of the query",
            (Some(_), _) => "AND, OR, GROUP BY or the end of the query",
        })?;
        Ok(Query {
            select,
            from,
            filter,
        })
    }

    fn select(&mut self) -> Result<Select, Refusal> {
        if self.eat(&Token::Star) {
            return Ok(Select::All);
        }
        let mut fields: Vec<(Path, String)> = Vec::new();
        let mut count = None;
        loop {
            let at = self.position();
            let name = if self.keyword("COUNT") {
                self.expect(&Token::Open, "`(` after COUNT")?;
                self.expect(&Token::Close, "`)`: COUNT takes no argument")?;
                self.expect_keyword("AS")?;
                let alias = self.alias()?;
                if count.is_some() {
                    return Err(Refusal(format!("at byte {at}: COUNT() twice")));
                }
                count = Some(alias.clone());
                alias
            } else {
                let path = self.path("`*`, COUNT() or a property")?;
                let name = if self.keyword("AS") {
                    self.alias()?
                } else {
                    path.0.last().cloned().unwrap_or_default()
                };
                fields.push((path, name.clone()));
                name
            };
            let named = fields.iter().filter(|(_, other)| *other == name).count()
                + usize::from(count.as_deref() == Some(name.as_str()));
            if named > 1 {
                return Err(Refusal(format!(
                    "at byte {at}: a second field named `{name}`: name one with AS"
                )));
            }
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        Ok(match (fields.is_empty(), count) {
            (true, Some(alias)) => Select::Count { alias },
            (false, None) => Select::Fields(fields),
            // Fields beside a count: what GROUP BY must follow.
            (_, count) => Select::Grouped {
                fields,
                count,
                by: Vec::new(),
            },
        })
    }

    /// `GROUP BY <paths>` after `select`: every selected field must be one of the paths.
    fn grouped(&mut self, select: Select) -> Result<Select, Refusal> {
        let at = self.position();
        self.expect_keyword("GROUP")?;
        self.expect_keyword("BY")?;
        let mut by = Vec::new();
        loop {
            by.push(self.path("a property to group by")?);
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        let (fields, count) = match select {
            Select::All => {
                return Err(Refusal(format!(
                    "at byte {at}: GROUP BY needs the grouped fields or COUNT() selected, not `*`"
                )));
            }
            Select::Count { alias } => (Vec::new(), Some(alias)),
            Select::Fields(fields) => (fields, None),
            Select::Grouped { fields, count, .. } => (fields, count),
        };
        if let Some((path, _)) = fields.iter().find(|(path, _)| !by.contains(path)) {
            return Err(Refusal(format!(
                "at byte {at}: `{path}` is selected but not grouped by: add it to GROUP BY"
            )));
        }
        Ok(Select::Grouped { fields, count, by })
    }

    fn alias(&mut self) -> Result<String, Refusal> {
        match self.peek() {
            Some(Token::Word(word)) if !is_keyword(word) => {
                let alias = (*word).to_owned();
                self.advance();
                Ok(alias)
            }
            _ => Err(self.expected("a name after AS")),
        }
    }

    fn collection(&mut self) -> Result<Collection, Refusal> {
        if !self.keyword("devices") {
            return Err(self.expected("devices or devices.jobs"));
        }
        if !self.eat(&Token::Dot) {
            return Ok(Collection::Devices);
        }
        if self.keyword("jobs") {
            return Ok(Collection::DeviceJobs);
        }
        if self.at_keyword("modules") {
            return Err(self.unsupported("devices.modules (module twins)"));
        }
        Err(self.expected("jobs"))
    }

    fn expr(&mut self) -> Result<Expr, Refusal> {
        let first = self.and()?;
        if !self.at_keyword("OR") {
            return Ok(first);
        }
        let mut disjuncts = vec![first];
        while self.keyword("OR") {
            disjuncts.push(self.and()?);
        }
        Ok(Expr::Or(disjuncts))
    }

    fn and(&mut self) -> Result<Expr, Refusal> {
        let first = self.unary()?;
        if !self.at_keyword("AND") {
            return Ok(first);
        }
        let mut conjuncts = vec![first];
        while self.keyword("AND") {
            conjuncts.push(self.unary()?);
        }
        Ok(Expr::And(conjuncts))
    }

    fn unary(&mut self) -> Result<Expr, Refusal> {
        if self.keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.nested(Self::unary)?)));
        }
        self.primary()
    }

    /// `parse`, one level deeper.
    fn nested(&mut self, parse: fn(&mut Self) -> Result<Expr, Refusal>) -> Result<Expr, Refusal> {
        if self.depth == MAX_DEPTH {
            return Err(self.refusal(format_args!(
                "conditions nest at most {MAX_DEPTH} levels deep"
            )));
        }
        self.depth += 1;
        let expr = parse(self);
        self.depth -= 1;
        expr
    }

    fn primary(&mut self) -> Result<Expr, Refusal> {
        if self.eat(&Token::Open) {
            let expr = self.nested(Self::expr)?;
            self.expect(&Token::Close, "AND, OR or `)`")?;
            return Ok(expr);
        }
        if self.keyword("IS_DEFINED") {
            self.expect(&Token::Open, "`(` after IS_DEFINED")?;
            let path = self.path("a property")?;
            self.expect(&Token::Close, "`)`")?;
            return Ok(Expr::Defined(path));
        }
        let path = self.path("a condition")?;
        let op = match self.peek() {
            Some(Token::Compare(op)) => *op,
            Some(Token::Word(word))
                if word.eq_ignore_ascii_case("IN") || word.eq_ignore_ascii_case("NIN") =>
            {
                let negated = word.eq_ignore_ascii_case("NIN");
                self.advance();
                let values = self.list()?;
                return Ok(Expr::In {
                    path,
                    values,
                    negated,
                });
            }
            Some(Token::Arithmetic(_) | Token::Star) => return Err(self.unsupported("arithmetic")),
            _ => return Err(self.expected("a comparison operator, IN or NIN")),
        };
        self.advance();
        // A word other than a literal's is a property of the same document on the right.
        if let Some(Token::Word(word)) = self.peek()
            && !LITERAL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
        {
            let right = self.path("a value or a property")?;
            return Ok(Expr::Fields(path, op, right));
        }
        Ok(Expr::Compare(path, op, self.literal()?))
    }

    fn list(&mut self) -> Result<Vec<Value>, Refusal> {
        self.expect(&Token::OpenList, "`[`")?;
        let mut values = Vec::new();
        if self.eat(&Token::CloseList) {
            return Ok(values);
        }
        loop {
            values.push(self.literal()?);
            if self.eat(&Token::CloseList) {
                return Ok(values);
            }
            self.expect(&Token::Comma, "`,` or `]`")?;
        }
    }

    fn literal(&mut self) -> Result<Value, Refusal> {
        let negative = self.eat(&Token::Arithmetic('-'));
        let value = match self.peek() {
            Some(Token::Number(text)) => number(text, negative)
                .map(Value::Number)
                .ok_or_else(|| self.refusal("the number is out of range")),
            _ if negative => Err(self.expected("a number after `-`")),
            Some(Token::Text(text)) => Ok(Value::String(text.clone())),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("TRUE") => Ok(Value::Bool(true)),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("FALSE") => Ok(Value::Bool(false)),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("NULL") => Ok(Value::Null),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("undefined") => {
                Err(self.unsupported("`undefined`"))
            }

            _ => Err(self.expected("a string, a number, true, false or null")),
        }?;
        self.advance();
        Ok(value)
    }

    /// A path, relative to the documents of the query's collection.
    fn path(&mut self, expected: &str) -> Result<Path, Refusal> {
        let at = self.position();
        let Some(Token::Word(first)) = self.peek() else {
            return Err(self.expected(expected));
        };
        let first = *first;
        if self.peek_second() == Some(&Token::Open) {
            return Err(self.unsupported(format_args!("the function `{first}()`")));
        }
        if is_keyword(first) {
            return Err(self.expected(expected));
        }
        self.advance();
        let mut segments = vec![first.to_owned()];
        while self.eat(&Token::Dot) {
            let Some(Token::Word(segment)) = self.peek() else {
                return Err(self.expected("a property name after `.`"));
            };
            segments.push((*segment).to_owned());
            self.advance();
        }
        let fields = match self.scope {
            Collection::Devices => TWIN_FIELDS,
            Collection::DeviceJobs => {
                let prefixed = match segments.as_slice() {
                    [devices, jobs, _, ..] => {
                        devices.eq_ignore_ascii_case("devices") && jobs.eq_ignore_ascii_case("jobs")
                    }
                    _ => false,
                };
                if !prefixed {
                    let found = segments.join(".");
                    return Err(Refusal(format!(
                        "at byte {at}: expected devices.jobs.<field>, found `{found}`: \
                         a devices.jobs query cannot refer to the twin"
                    )));
                }
                segments.drain(..2);
                ROW_FIELDS
            }
        };
        if let Some(first) = segments.first_mut()
            && let Some(field) = fields.iter().find(|f| f.eq_ignore_ascii_case(first))
        {
            *first = (*field).to_owned();
        }
        Ok(Path(segments))
    }
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// `SELECT … FROM … [WHERE …]`
pub(crate) fn query(text: &str) -> Result<Query, Refusal> {
    Parser::new(text)?.query()
}

/// A job's `queryCondition`: `*` (every device) or a WHERE expression over twins.
pub(crate) fn condition(text: &str) -> Result<Filter, Refusal> {
    let mut parser = Parser::new(text)?;
    if let [(_, Token::Star)] = parser.tokens.as_slice() {
        return Ok(Filter::every());
    }
    let expr = parser.expr()?;
    parser.end("AND, OR or the end of the condition")?;
    Ok(Filter(Some(expr)))
}
