//! The query language's lexer: text into tokens (words, numbers, strings with their escapes,
//! operators), each with its byte position for refusals.

use std::fmt;

use serde_json::Number;

use super::{Op, Refusal};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Token<'a> {
    Word(&'a str),
    Text(String),
    Number(&'a str),
    Compare(Op),
    /// `+`, `-`, `/` or `%` (a `-` may also start a negative number).
    Arithmetic(char),
    Star,
    Comma,
    Dot,
    Open,
    Close,
    OpenList,
    CloseList,
}

/// As a refusal names it.
impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Word(text) | Self::Number(text) => write!(f, "`{text}`"),
            Self::Text(_) => f.write_str("a string"),
            Self::Compare(op) => write!(f, "`{op}`"),
            Self::Arithmetic(c) => write!(f, "`{c}`"),
            Self::Star => f.write_str("`*`"),
            Self::Comma => f.write_str("`,`"),
            Self::Dot => f.write_str("`.`"),
            Self::Open => f.write_str("`(`"),
            Self::Close => f.write_str("`)`"),
            Self::OpenList => f.write_str("`[`"),
            Self::CloseList => f.write_str("`]`"),
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// `text`'s tokens, each with its byte position.
pub(super) fn tokens(text: &str) -> Result<Vec<(usize, Token<'_>)>, Refusal> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        let next = bytes.get(at + 1).copied();
        let (token, length) = match c {
            c if c.is_whitespace() => {
                at += c.len_utf8();
                continue;
            }
            '*' => (Token::Star, 1),
            ',' => (Token::Comma, 1),
            '.' => (Token::Dot, 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            '[' => (Token::OpenList, 1),
            ']' => (Token::CloseList, 1),
            '+' | '-' | '/' | '%' => (Token::Arithmetic(c), 1),
            '=' => (Token::Compare(Op::Eq), 1),
            '!' if next == Some(b'=') => (Token::Compare(Op::Ne), 2),
            '<' if next == Some(b'=') => (Token::Compare(Op::Le), 2),
            '<' if next == Some(b'>') => (Token::Compare(Op::Ne), 2),
            '<' => (Token::Compare(Op::Lt), 1),
            '>' if next == Some(b'=') => (Token::Compare(Op::Ge), 2),
            '>' => (Token::Compare(Op::Gt), 1),
            '\'' | '"' => {
                let (value, length) = string(text, at, c)?;
                (Token::Text(value), length)
            }
            c if c.is_ascii_digit() => {
                let length = number_length(&bytes[at..]);
                let after = bytes.get(at + length).copied();
                if length == 2 && next.is_some_and(|x| x.eq_ignore_ascii_case(&b'x'))
                    || after.is_some_and(|b| is_word_byte(b) || b == b'.')
                {
                    return Err(Refusal(format!(
                        "at byte {at}: expected a number, such as 12, 2.5, 1e-3 or 0x1F"
                    )));
                }
                (Token::Number(&text[at..at + length]), length)
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
                let length = bytes[at..].iter().take_while(|&&b| is_word_byte(b)).count();
                (Token::Word(&text[at..at + length]), length)
            }
            other => {
                return Err(Refusal(format!(
                    "at byte {at}: unexpected character `{other}`"
                )));
            }
        };
        tokens.push((at, token));
        at += length;
    }
    Ok(tokens)
}

/// The length of the number literal `text` starts with: decimal (`12`, `2.5`, `1E+3`) or
/// hexadecimal (`0x1F`).
fn number_length(text: &[u8]) -> usize {
    let digits = |from: usize| {
        text.get(from..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        })
    };
    if let [b'0', b'x' | b'X', hex @ ..] = text {
        return 2 + hex.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    }
    let mut end = digits(0);
    if text.get(end) == Some(&b'.') && digits(end + 1) > 0 {
        end += 1 + digits(end + 1);
    }
    if matches!(text.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(text.get(end + 1), Some(b'+' | b'-')));
        let exponent = digits(end + 1 + sign);
        if exponent > 0 {
            end += 1 + sign + exponent;
        }
    }
    end
}

/// The number a literal's text (and a `-` before it) stands for; `None` beyond `f64`'s range.
pub(super) fn number(text: &str, negative: bool) -> Option<Number> {
    let integer = match text.get(..2) {
        Some("0x" | "0X") => i128::from_str_radix(&text[2..], 16).ok(),
        _ => text.parse::<i128>().ok(),
    };
    let Some(magnitude) = integer else {
        let float: f64 = text.parse().ok()?;
        return Number::from_f64(if negative { -float } else { float });
    };
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value)
        .map(Number::from)
        .or_else(|_| u64::try_from(value).map(Number::from))
        .ok()
        .or_else(|| Number::from_f64(value as f64))
}

/// The string literal opening with `quote` at byte `start` of `text`, and its length.
fn string(text: &str, start: usize, quote: char) -> Result<(String, usize), Refusal> {
    let mut value = String::new();
    let mut chars = text[start + 1..]
        .char_indices()
        .map(|(i, c)| (start + 1 + i, c));
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => value.push(escape(at, &mut chars)?),
            c if c == quote => return Ok((value, at + 1 - start)),
            c => value.push(c),
        }
    }
    Err(Refusal(format!(
        "at byte {start}: the string never ends: expected a closing {quote}"
    )))
}

/// The character the escape at byte `at` stands for, read on from after its `\`.
fn escape(at: usize, chars: &mut impl Iterator<Item = (usize, char)>) -> Result<char, Refusal> {
    let refusal = || {
        Refusal(format!(
            "at byte {at}: expected an escape \\' \\\" \\\\ or \\u and four hexadecimal digits"
        ))
    };
    match chars.next().map(|(_, c)| c) {
        Some(c @ ('\'' | '"' | '\\')) => Ok(c),
        Some('u') => {
            let unit = code_unit(chars).ok_or_else(refusal)?;
            let code = if (0xD800..0xDC00).contains(&unit) {
                // Beyond U+FFFF: the high half of a surrogate pair, whose low half follows.
                let low = match (chars.next(), chars.next()) {
                    (Some((_, '\\')), Some((_, 'u'))) => code_unit(chars),
                    _ => None,
                };
                let low = low
                    .filter(|low| (0xDC00..0xE000).contains(low))
                    .ok_or_else(refusal)?;
                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            } else {
                unit
            };
            char::from_u32(code).ok_or_else(refusal)
        }
        _ => Err(refusal()),
    }
}

/// The code unit of a `\uXXXX` escape, read from its four hexadecimal digits.
fn code_unit(chars: &mut impl Iterator<Item = (usize, char)>) -> Option<u32> {
    (0..4).try_fold(0, |unit, _| Some(unit * 16 + chars.next()?.1.to_digit(16)?))
}
