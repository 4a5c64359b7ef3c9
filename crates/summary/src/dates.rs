//! Due dates as said ("by Friday", "March fifteenth", "tomorrow") and as calendar dates
//! relative to the meeting's day. Only what names one day is normalised; vaguer words
//! ("next week", "soon") are kept as said, without a date.

/// A calendar day, as days since 1970-01-01 (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub i64);

const WEEKDAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const ORDINALS: [&str; 31] = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "twenty-first",
    "twenty-second",
    "twenty-third",
    "twenty-fourth",
    "twenty-fifth",
    "twenty-sixth",
    "twenty-seventh",
    "twenty-eighth",
    "twenty-ninth",
    "thirtieth",
    "thirty-first",
];
/// Words that may open a due phrase, kept in what is shown ("by Friday").
const LEADS: [&str; 6] = ["by", "before", "until", "on", "next", "this"];

impl Day {
    /// The UTC day of a time in ms since the epoch.
    pub fn of_ms(ms: i64) -> Self {
        Self(ms.div_euclid(86_400_000))
    }

    /// Monday 0 .. Sunday 6.
    pub fn weekday(self) -> i64 {
        (self.0 + 3).rem_euclid(7)
    }

    /// The day of a civil date (proleptic Gregorian).
    pub fn from_ymd(y: i64, m: u32, d: u32) -> Self {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(m);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Self(era * 146_097 + doe - 719_468)
    }

    /// (year, month, day).
    pub fn ymd(self) -> (i64, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
    }

    /// `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        let (y, m, d) = self.ymd();
        format!("{y:04}-{m:02}-{d:02}")
    }
}

fn days_in(y: i64, m: u32) -> u32 {
    let next = if m == 12 { Day::from_ymd(y + 1, 1, 1) } else { Day::from_ymd(y, m + 1, 1) };
    (next.0 - Day::from_ymd(y, m, 1).0) as u32
}

/// A due date found in a sentence: the words as said, and the day they name if they
/// name one (given the meeting's day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// As said, e.g. "by Friday".
    pub said: String,
    /// The day, when the words name one and the meeting's day is known.
    pub day: Option<Day>,
}

fn day_number(w: &str) -> Option<u32> {
    let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
    let rest = &w[digits.len()..];
    if !digits.is_empty() && (rest.is_empty() || ["st", "nd", "rd", "th"].contains(&rest)) {
        return digits.parse().ok().filter(|d| (1..=31).contains(d));
    }
    ORDINALS.iter().position(|o| *o == w).map(|i| i as u32 + 1)
}

/// The first due phrase of `sentence`, if any.
pub fn due(sentence: &str, meeting: Option<Day>) -> Option<Due> {
    // Words with their original spelling; "twenty fifth" is read as "twenty-fifth".
    let raw: Vec<&str> = sentence
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | ';' | '!' | '?' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect();
    let low: Vec<String> = raw.iter().map(|w| w.to_lowercase()).collect();
    let word = |i: usize| low.get(i).map(String::as_str).unwrap_or("");
    let said = |from: usize, to: usize| {
        let from = if from > 0 && LEADS.contains(&word(from - 1)) { from - 1 } else { from };
        raw[from..=to].join(" ")
    };
    for i in 0..low.len() {
        let w = word(i);
        if let Some(wd) = WEEKDAYS.iter().position(|d| *d == w) {
            let day = meeting.map(|m| {
                let ahead = (wd as i64 - m.weekday()).rem_euclid(7);
                let next = i > 0 && word(i - 1) == "next";
                Day(m.0 + ahead + if next { 7 } else { 0 })
            });
            return Some(Due { said: said(i, i), day });
        }
        match w {
            "tomorrow" => return Some(Due { said: said(i, i), day: meeting.map(|m| Day(m.0 + 1)) }),
            "today" | "tonight" => return Some(Due { said: said(i, i), day: meeting }),
            "week" | "month" if end_phrase(&low, i).is_some() => {
                let from = end_phrase(&low, i).unwrap_or(i);
                return Some(Due { said: said(from, i), day: meeting.map(|m| end_of(m, w)) });
            }
            "week" | "month" if i >= 1 && ["this", "next"].contains(&word(i - 1)) => {
                return Some(Due { said: raw[i - 1..=i].join(" "), day: None });
            }
            _ => {}
        }
        if let Some(mi) = MONTHS.iter().position(|m| *m == w) {
            let joined = |j: usize| {
                if word(j) == "twenty" || word(j) == "thirty" {
                    format!("{}-{}", word(j), word(j + 1))
                } else {
                    word(j).to_owned()
                }
            };
            // "March 15th", "March fifteenth", "March the 15th", "15 March".
            let after = if word(i + 1) == "the" { i + 2 } else { i + 1 };
            let (d, last) = match day_number(&joined(after)) {
                Some(d) => (Some(d), after + usize::from(joined(after).contains('-') && !word(after).contains('-'))),
                None => match i.checked_sub(1).and_then(|j| day_number(word(j))) {
                    Some(d) => (Some(d), i),
                    None => (None, i),
                },
            };
            let Some(d) = d else { continue };
            let first = if last == i { i - 1 } else { i };
            let day = meeting.and_then(|m| {
                let (y, _, _) = m.ymd();
                let m_ = mi as u32 + 1;
                let pick = |y: i64| (d <= days_in(y, m_)).then(|| Day::from_ymd(y, m_, d));
                // A date already past this year means next year's.
                match pick(y) {
                    Some(x) if x >= m => Some(x),
                    _ => pick(y + 1),
                }
            });
            return Some(Due { said: said(first, last.min(raw.len() - 1)), day });
        }
    }
    None
}

/// Where "end of (the) week" starts, for the word `week` at `i`.
fn end_phrase(low: &[String], i: usize) -> Option<usize> {
    let back = |n: usize| i.checked_sub(n).map(|j| low[j].as_str());
    match (back(3), back(2), back(1)) {
        (Some("end"), Some("of"), Some("the")) => Some(i - 3),
        (_, Some("end"), Some("of")) => Some(i - 2),
        _ => None,
    }
}

fn end_of(m: Day, what: &str) -> Day {
    if what == "week" {
        // That week's Friday (or the day itself at a weekend).
        Day(m.0 + (4 - m.weekday()).max(0))
    } else {
        let (y, mo, _) = m.ymd();
        Day::from_ymd(y, mo, days_in(y, mo))
    }
}
