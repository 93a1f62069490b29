//! The query language's tests: lexing, parsing, refusals and evaluation, over JSON documents.

use serde_json::json;

use super::{parser::MAX_DEPTH, *};

fn path(dotted: &str) -> Path {
    Path(dotted.split('.').map(str::to_owned).collect())
}

fn filter(text: &str) -> Filter {
    condition(text).unwrap_or_else(|refusal| panic!("{text}: {refusal:?}"))
}

fn refusal(text: &str) -> String {
    match condition(text) {
        Ok(filter) => panic!("{text} was read as {filter:?}"),
        Err(Refusal(message)) => message,
    }
}

fn query_refusal(text: &str) -> String {
    match query(text) {
        Ok(query) => panic!("{text} was read as {query:?}"),
        Err(Refusal(message)) => message,
    }
}

/// How the condition `text` evaluates on `doc`.
fn truth(text: &str, doc: &Value) -> Option<bool> {
    filter(text).0.expect("a condition").eval(doc)
}

#[test]
fn reads_queries() {
    assert_eq!(
        query("SELECT * FROM devices"),
        Ok(Query {
            select: Select::All,
            from: Collection::Devices,
            filter: Filter::every(),
        })
    );
    let count = query("SELECT COUNT() AS n FROM devices WHERE tags.site = 'b'").unwrap();
    assert_eq!(count.select, Select::Count { alias: "n".into() });
    assert_eq!(count.filter, filter("tags.site = 'b'"));
    let fields = query(
        "SELECT DeviceId, LastActivityTime, properties.reported.fw.version AS fw, tags.Site FROM devices",
    )
    .unwrap();
    assert_eq!(
        fields.select,
        Select::Fields(vec![
            (path("deviceId"), "deviceId".into()),
            (path("lastActivityTime"), "lastActivityTime".into()),
            (path("properties.reported.fw.version"), "fw".into()),
            (path("tags.Site"), "Site".into()),
        ])
    );
    let jobs = query(
        "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'j' AND devices.jobs.outcome.deviceMethodResponse.status >= 400",
    )
    .unwrap();
    assert_eq!(jobs.from, Collection::DeviceJobs);
    assert_eq!(
        jobs.filter,
        Filter(Some(Expr::And(vec![
            Expr::Compare(path("jobId"), Op::Eq, json!("j")),
            Expr::Compare(
                path("outcome.deviceMethodResponse.status"),
                Op::Ge,
                json!(400)
            ),
        ])))
    );
}

#[test]
fn reads_every_construct_of_a_condition() {
    let compare = |p: &str, op, value: Value| Expr::Compare(path(p), op, value);
    for (text, op) in [
        ("=", Op::Eq),
        ("!=", Op::Ne),
        ("<>", Op::Ne),
        ("<", Op::Lt),
        ("<=", Op::Le),
        (">", Op::Gt),
        (">=", Op::Ge),
    ] {
        assert_eq!(
            filter(&format!("tags.a {text} 1")),
            Filter(Some(compare("tags.a", op, json!(1)))),
            "{text}"
        );
    }
    assert_eq!(
        filter("deviceId IN ['a', \"b\"] OR status NIN [] AND NOT IS_DEFINED(tags.x)"),
        Filter(Some(Expr::Or(vec![
            Expr::In {
                path: path("deviceId"),
                values: vec![json!("a"), json!("b")],
                negated: false
            },
            Expr::And(vec![
                Expr::In {
                    path: path("status"),
                    values: vec![],
                    negated: true
                },
                Expr::Not(Box::new(Expr::Defined(path("tags.x")))),
            ]),
        ])))
    );
    assert_eq!(
        filter("(tags.a = 1 OR tags.b = 2) AND tags.c = true"),
        Filter(Some(Expr::And(vec![
            Expr::Or(vec![
                compare("tags.a", Op::Eq, json!(1)),
                compare("tags.b", Op::Eq, json!(2))
            ]),
            compare("tags.c", Op::Eq, json!(true)),
        ])))
    );
    for (text, value) in [
        ("false", json!(false)),
        ("null", json!(null)),
        ("12", json!(12)),
        ("-3", json!(-3)),
        ("2.5", json!(2.5)),
        ("1e3", json!(1000.0)),
        ("1.5E-2", json!(0.015)),
        ("0x1F", json!(31)),
        ("-0x10", json!(-16)),
        ("18446744073709551615", json!(u64::MAX)),
        ("-9223372036854775808", json!(i64::MIN)),
        ("100000000000000000000", json!(1e20)),
    ] {
        assert_eq!(
            filter(&format!("tags.a = {text}")),
            Filter(Some(compare("tags.a", Op::Eq, value))),
            "{text}"
        );
    }
    assert_eq!(condition("*"), Ok(Filter::every()));
    assert_eq!(condition("  * "), Ok(Filter::every()));
}

#[test]
fn reads_keywords_and_the_twins_fields_in_any_case() {
    assert_eq!(
        query("select count() as N from DEVICES where Tags.a = TRUE or not is_defined(deviceid)"),
        query("SELECT COUNT() AS N FROM devices WHERE tags.a = true OR NOT IS_DEFINED(deviceId)")
    );
    assert_eq!(
        query("Select * From Devices.Jobs Where DEVICES.jobs.JOBID in ['j'] And devices.JOBS.status nin [Null]")
            .unwrap()
            .filter,
        filter("jobId IN ['j'] AND status NIN [null]")
    );
    // Under tags and properties, names are read as written.
    assert_eq!(
        filter("TAGS.Site = 1"),
        Filter(Some(Expr::Compare(path("tags.Site"), Op::Eq, json!(1))))
    );
    assert_eq!(
        truth("tags.Site = 'b'", &json!({"tags": {"site": "b"}})),
        None
    );
    assert_eq!(
        truth("tags.site = 'b'", &json!({"tags": {"site": "b"}})),
        Some(true)
    );
}

#[test]
fn reads_strings_with_their_escapes() {
    for (text, value) in [
        (r"'it\'s'", "it's"),
        (r#""say \"hi\"""#, "say \"hi\""),
        (r#"'a "b"'"#, "a \"b\""),
        (r#""it's""#, "it's"),
        (r"'back\\slash'", r"back\slash"),
        (r"'\u00e9\u00C9'", "éÉ"),
        (r"'\ud83d\ude00'", "😀"),
        ("'é ☃'", "é ☃"),
        ("''", ""),
    ] {
        assert_eq!(
            filter(&format!("tags.x = {text}")),
            Filter(Some(Expr::Compare(path("tags.x"), Op::Eq, json!(value)))),
            "{text}"
        );
    }
    for text in [
        r"tags.x = '\nb'",
        r"tags.x = '\u00g0'",
        r"tags.x = '\u00e'",
        r"tags.x = '\ud83d'",
        r"tags.x = '\ud83dx'",
        r"tags.x = '\ude00'",
    ] {
        assert_eq!(
            refusal(text),
            "at byte 10: expected an escape \\' \\\" \\\\ or \\u and four hexadecimal digits",
            "{text}"
        );
    }
}

#[test]
fn refuses_what_it_cannot_read_naming_where() {
    for (text, message) in [
        (
            "",
            "at byte 0: expected a condition, found the end of the text",
        ),
        (
            "tags.x = 'it\\'s",
            "at byte 9: the string never ends: expected a closing '",
        ),
        (
            "tags.x = \"open",
            "at byte 9: the string never ends: expected a closing \"",
        ),
        (
            "deviceId = 'a' 'b'",
            "at byte 15: expected AND, OR or the end of the condition, found a string",
        ),
        (
            "deviceId IN ['it\\'s']x",
            "at byte 21: expected AND, OR or the end of the condition, found `x`",
        ),
        (
            "SELECT * FROM devices",
            "at byte 0: expected a condition, found `SELECT`",
        ),
        (
            "'a' = tags.a",
            "at byte 0: expected a condition, found a string",
        ),
        (
            "tags.a = undefined",
            "at byte 9: `undefined` is not supported by the local hub",
        ),
        (
            "tags.a + 1 = 2",
            "at byte 7: arithmetic is not supported by the local hub",
        ),
        (
            "tags.a * 2 = 2",
            "at byte 7: arithmetic is not supported by the local hub",
        ),
        (
            "tags.a = - 'x'",
            "at byte 11: expected a number after `-`, found a string",
        ),
        (
            "STARTS_WITH(deviceId, 'a')",
            "at byte 0: the function `STARTS_WITH()` is not supported by the local hub",
        ),
        (
            "is_defined tags.a",
            "at byte 11: expected `(` after IS_DEFINED, found `tags`",
        ),
        (
            "deviceId NOT IN ['a']",
            "at byte 9: expected a comparison operator, IN or NIN, found `NOT`",
        ),
        (
            "deviceId IN 'a'",
            "at byte 12: expected `[`, found a string",
        ),
        (
            "deviceId IN ['a' 'b']",
            "at byte 17: expected `,` or `]`, found a string",
        ),
        (
            "deviceId IN ['a', tags.b]",
            "at byte 18: expected a string, a number, true, false or null, found `tags`",
        ),
        (
            "(tags.a = 1",
            "at byte 11: expected AND, OR or `)`, found the end of the text",
        ),
        (
            "tags.a = 1)",
            "at byte 10: expected AND, OR or the end of the condition, found `)`",
        ),
        (
            "tags. = 1",
            "at byte 6: expected a property name after `.`, found `=`",
        ),
        ("tags.a ! 1", "at byte 7: unexpected character `!`"),
        ("tags.a = #", "at byte 9: unexpected character `#`"),
        (
            "tags.a = 1e",
            "at byte 9: expected a number, such as 12, 2.5, 1e-3 or 0x1F",
        ),
        (
            "tags.a = 0x",
            "at byte 9: expected a number, such as 12, 2.5, 1e-3 or 0x1F",
        ),
        (
            "tags.a = 12abc",
            "at byte 9: expected a number, such as 12, 2.5, 1e-3 or 0x1F",
        ),
        (
            "tags.a = 1.",
            "at byte 9: expected a number, such as 12, 2.5, 1e-3 or 0x1F",
        ),
        ("tags.a = 1e999", "at byte 9: the number is out of range"),
        (
            "tags.a = 1 AND",
            "at byte 14: expected a condition, found the end of the text",
        ),
        ("*, *", "at byte 0: expected a condition, found `*`"),
    ] {
        assert_eq!(refusal(text), message, "{text}");
    }
    for (text, message) in [
        (
            "SELECT * FROM devices GROUP BY tags.a",
            "at byte 22: GROUP BY needs the grouped fields or COUNT() selected, not `*`",
        ),
        (
            "SELECT tags.b, COUNT() AS n FROM devices GROUP BY tags.a",
            "at byte 41: `tags.b` is selected but not grouped by: add it to GROUP BY",
        ),
        (
            "SELECT COUNT() AS n, COUNT() AS m FROM devices GROUP BY tags.a",
            "at byte 21: COUNT() twice",
        ),
        (
            "SELECT * FROM devices WHERE tags.a = 1 ORDER BY tags.a",
            "at byte 39: ORDER BY is not supported by the local hub",
        ),
        (
            "SELECT TOP 3 * FROM devices",
            "at byte 7: TOP is not supported by the local hub",
        ),
        (
            "SELECT tags.a, COUNT() AS n FROM devices",
            "at byte 7: COUNT() beside other fields needs GROUP BY those fields",
        ),
        (
            "SELECT COUNT() AS n, tags.a FROM devices",
            "at byte 7: COUNT() beside other fields needs GROUP BY those fields",
        ),
        (
            "SELECT COUNT() FROM devices",
            "at byte 15: expected AS, found `FROM`",
        ),
        (
            "SELECT COUNT() AS FROM devices",
            "at byte 18: expected a name after AS, found `FROM`",
        ),
        (
            "SELECT COUNT(x) AS n FROM devices",
            "at byte 13: expected `)`: COUNT takes no argument, found `x`",
        ),
        (
            "SELECT avg(tags.a) AS a FROM devices",
            "at byte 7: the function `avg()` is not supported by the local hub",
        ),
        (
            "SELECT tags.a, properties.desired.a FROM devices",
            "at byte 15: a second field named `a`: name one with AS",
        ),
        (
            "SELECT * FROM devices.modules",
            "at byte 22: devices.modules (module twins) is not supported by the local hub",
        ),
        (
            "SELECT * FROM twins",
            "at byte 14: expected devices or devices.jobs, found `twins`",
        ),
        (
            "SELECT * FROM devices.jobz",
            "at byte 22: expected jobs, found `jobz`",
        ),
        (
            "SELECT deviceId FROM devices.jobs",
            "at byte 7: expected `*`: a devices.jobs query can only SELECT *",
        ),
        (
            "SELECT COUNT() AS n FROM devices.jobs",
            "at byte 7: expected `*`: a devices.jobs query can only SELECT *",
        ),
        (
            "SELECT * FROM devices.jobs WHERE jobId = 'j'",
            "at byte 33: expected devices.jobs.<field>, found `jobId`: a devices.jobs query cannot refer to the twin",
        ),
        (
            "SELECT * FROM devices.jobs WHERE devices.jobs = 'j'",
            "at byte 33: expected devices.jobs.<field>, found `devices.jobs`: a devices.jobs query cannot refer to the twin",
        ),
        (
            "SELECT * FROM devices tags.a = 1",
            "at byte 22: expected WHERE, GROUP BY or the end of the query, found `tags`",
        ),
        (
            "SELECT * FROM devices WHERE",
            "at byte 27: expected a condition, found the end of the text",
        ),
        (
            "SELECT * devices",
            "at byte 9: expected FROM, found `devices`",
        ),
        ("* FROM devices", "at byte 0: expected SELECT, found `*`"),
    ] {
        assert_eq!(query_refusal(text), message, "{text}");
    }
}

#[test]
fn refuses_nesting_deeper_than_its_bound() {
    let nested = |depth: usize| format!("{}tags.a = 1{}", "(".repeat(depth), ")".repeat(depth));
    assert!(condition(&nested(MAX_DEPTH)).is_ok());
    assert_eq!(
        refusal(&nested(MAX_DEPTH + 1)),
        format!(
            "at byte {}: conditions nest at most {MAX_DEPTH} levels deep",
            MAX_DEPTH + 1
        )
    );
    assert!(refusal(&nested(100_000)).ends_with("conditions nest at most 32 levels deep"));
    assert!(condition(&format!("{}tags.a = 1", "NOT ".repeat(MAX_DEPTH))).is_ok());
    assert!(refusal(&format!("{}tags.a = 1", "NOT ".repeat(100_000))).ends_with("levels deep"));
    assert!(refusal(&"NOT (".repeat(100_000)).ends_with("levels deep"));
    // Long chains of AND and OR do not nest.
    let chain = vec!["tags.a = 1"; 20_000].join(" AND ");
    let chain = filter(&format!("{chain} OR {chain}"));
    assert!(chain.matches(&json!({"tags": {"a": 1}})));
    assert_eq!(condition(&chain.to_string()), Ok(chain));
}

#[test]
fn compares_primitives_of_one_type_only() {
    let undefined = None;
    for (value, literal, expected) in [
        // (value, literal, [=, !=, <, <=, >, >=])
        (
            json!("b"),
            "'a'",
            [false, true, false, false, true, true].map(Some),
        ),
        (
            json!("b"),
            "'b'",
            [true, false, false, true, false, true].map(Some),
        ),
        (
            json!("b"),
            "'c'",
            [false, true, true, true, false, false].map(Some),
        ),
        (
            json!("B"),
            "'a'",
            [false, true, true, true, false, false].map(Some),
        ),
        (
            json!("é"),
            "'z'",
            [false, true, false, false, true, true].map(Some),
        ),
        (
            json!(1),
            "1.0",
            [true, false, false, true, false, true].map(Some),
        ),
        (
            json!(2),
            "1.5",
            [false, true, false, false, true, true].map(Some),
        ),
        (
            json!(-2.5),
            "-2",
            [false, true, true, true, false, false].map(Some),
        ),
        (
            json!(9_007_199_254_740_993_u64),
            "9007199254740992",
            [false, true, false, false, true, true].map(Some),
        ),
        (
            json!(u64::MAX),
            "-1",
            [false, true, false, false, true, true].map(Some),
        ),
        (
            // Past `i64::MAX`, against a number that is not whole: as `f64`.
            json!(u64::MAX),
            "1.5e19",
            [false, true, false, false, true, true].map(Some),
        ),
        (
            // Past `i64::MAX`, still exactly: as `f64` the two are one number.
            json!(u64::MAX),
            "18446744073709551614",
            [false, true, false, false, true, true].map(Some),
        ),
        (
            json!(true),
            "true",
            [
                Some(true),
                Some(false),
                undefined,
                undefined,
                undefined,
                undefined,
            ],
        ),
        (
            json!(true),
            "false",
            [
                Some(false),
                Some(true),
                undefined,
                undefined,
                undefined,
                undefined,
            ],
        ),
        (
            json!(null),
            "null",
            [
                Some(true),
                Some(false),
                undefined,
                undefined,
                undefined,
                undefined,
            ],
        ),
        (json!("1"), "1", [undefined; 6]),
        (json!(1), "'1'", [undefined; 6]),
        (json!(0), "false", [undefined; 6]),
        (json!(null), "'a'", [undefined; 6]),
        (json!(false), "null", [undefined; 6]),
        (json!({"a": 1}), "1", [undefined; 6]),
        (json!([1]), "1", [undefined; 6]),
    ] {
        for (op, expected) in ["=", "!=", "<", "<=", ">", ">="].into_iter().zip(expected) {
            let text = format!("tags.v {op} {literal}");
            assert_eq!(
                truth(&text, &json!({"tags": {"v": value}})),
                expected,
                "{value} {op} {literal}"
            );
            assert_eq!(
                truth(&text, &json!({"tags": {}})),
                undefined,
                "undefined {op} {literal}"
            );
        }
    }
}

#[test]
fn combines_conditions_in_three_valued_logic() {
    let doc = json!({"tags": {"t": 1}});
    let atoms = [
        ("tags.t = 1", Some(true)),
        ("tags.t = 2", Some(false)),
        ("tags.u = 1", None),
    ];
    for (a, a_value) in atoms {
        assert_eq!(
            truth(&format!("NOT {a}"), &doc),
            a_value.map(|a| !a),
            "NOT {a}"
        );
        for (b, b_value) in atoms {
            let (and, or) = match (a_value, b_value) {
                (Some(a), Some(b)) => (Some(a && b), Some(a || b)),
                (Some(false), None) | (None, Some(false)) => (Some(false), None),
                (Some(true), None) | (None, Some(true)) => (None, Some(true)),
                (None, None) => (None, None),
            };
            assert_eq!(truth(&format!("{a} AND {b}"), &doc), and, "{a} AND {b}");
            assert_eq!(truth(&format!("{a} OR {b}"), &doc), or, "{a} OR {b}");
            assert_eq!(
                filter(&format!("{a} AND {b}")).matches(&doc),
                and == Some(true)
            );
            assert_eq!(
                filter(&format!("{a} OR {b}")).matches(&doc),
                or == Some(true)
            );
        }
    }
    assert!(
        !filter("NOT tags.u = 1").matches(&doc),
        "undefined, negated, is still undefined"
    );
    assert!(!filter("tags.u != 1").matches(&doc));
    assert!(Filter::every().matches(&json!(null)));
}

#[test]
fn tests_membership_and_definition() {
    let doc =
        json!({"deviceId": "d1", "tags": {"n": 2, "nothing": null, "o": {"a": 1}, "five": 5}});
    for (text, expected) in [
        ("deviceId IN ['d0', 'd1']", Some(true)),
        ("deviceId IN ['d0']", Some(false)),
        ("deviceId IN []", Some(false)),
        ("deviceId NIN ['d0', 'd1']", Some(false)),
        ("deviceId NIN ['d0']", Some(true)),
        ("DEVICEID in [\"d1\"]", Some(true)),
        ("tags.n IN [1, 2.0]", Some(true)),
        ("tags.n IN ['2', 2]", Some(true)),
        ("tags.n IN ['2', 3]", None),
        ("tags.n NIN ['2', 3]", None),
        ("tags.nothing IN [null]", Some(true)),
        ("tags.o IN [1]", None),
        ("tags.missing IN ['a']", None),
        ("tags.missing NIN ['a']", None),
        ("IS_DEFINED(tags.n)", Some(true)),
        ("IS_DEFINED(tags.nothing)", Some(true)),
        ("IS_DEFINED(tags.o.a)", Some(true)),
        ("IS_DEFINED(tags.missing)", Some(false)),
        ("IS_DEFINED(tags.five.a)", Some(false)),
        ("NOT IS_DEFINED(tags.missing)", Some(true)),
    ] {
        assert_eq!(truth(text, &doc), expected, "{text}");
    }
    assert_eq!(path("tags.o.a").get(&doc), Some(&json!(1)));
    assert_eq!(path("tags.nothing").get(&doc), Some(&Value::Null));
    assert_eq!(path("tags.five.a").get(&doc), None);
    assert_eq!(
        path("tags.o.a").get(&json!({"tags": [{"o": {"a": 1}}]})),
        None
    );
}

#[test]
fn names_the_devices_of_a_plain_device_id_condition() {
    assert_eq!(filter("deviceId = 'a'").device_ids(), Some(vec!["a"]));
    assert_eq!(
        filter("DEVICEID in [\"x\", 'y']").device_ids(),
        Some(vec!["x", "y"])
    );
    assert_eq!(filter("(deviceId IN [])").device_ids(), Some(vec![]));
    for other in [
        "deviceId != 'a'",
        "deviceId NIN ['a']",
        "deviceId IN ['a', 1]",
        "deviceId = 1",
        "deviceId > 'a'",
        "deviceId = 'a' AND tags.x = 1",
        "deviceId = 'a' OR deviceId = 'b'",
        "NOT deviceId = 'a'",
        "tags.deviceId = 'a'",
        "IS_DEFINED(deviceId)",
    ] {
        assert_eq!(filter(other).device_ids(), None, "{other}");
    }
    assert_eq!(Filter::every().device_ids(), None);
}

#[test]
fn names_the_text_a_filter_requires() {
    let jobs = query(
        "SELECT * FROM devices.jobs WHERE devices.jobs.JobId = 'j1' AND (devices.jobs.status = 'failed' AND devices.jobs.deviceId != 'd')",
    )
    .unwrap()
    .filter;
    assert_eq!(jobs.required_text("jobId"), Some("j1"));
    assert_eq!(jobs.required_text("status"), Some("failed"));
    assert_eq!(jobs.required_text("deviceId"), None);
    assert_eq!(jobs.required_text("devices.jobs.jobId"), None);
    assert_eq!(
        filter("tags.site.name = 'x'").required_text("tags.site.name"),
        Some("x")
    );
    assert_eq!(
        filter("tags.site.name = 'x'").required_text("tags.site"),
        None
    );
    for other in [
        "jobId = 'j' OR jobId = 'k'",
        "NOT jobId = 'j'",
        "jobId != 'j'",
        "jobId = 1",
        "jobId IN ['j']",
        "jobId >= 'j'",
    ] {
        assert_eq!(filter(other).required_text("jobId"), None, "{other}");
    }
    assert_eq!(Filter::every().required_text("jobId"), None);
}

#[test]
fn renders_what_it_reads() {
    for (text, rendered) in [
        (
            "tags.a = 1 OR tags.b = 2 AND tags.c = 3",
            "tags.a = 1 OR tags.b = 2 AND tags.c = 3",
        ),
        (
            "(tags.a = 1 OR tags.b = 2) AND tags.c = 3",
            "(tags.a = 1 OR tags.b = 2) AND tags.c = 3",
        ),
        (
            "tags.a = 1 AND (tags.b = 2 AND tags.c = 3)",
            "tags.a = 1 AND (tags.b = 2 AND tags.c = 3)",
        ),
        (
            "tags.a = 1 OR (tags.b = 2 OR tags.c = 3)",
            "tags.a = 1 OR (tags.b = 2 OR tags.c = 3)",
        ),
        ("((tags.a = 1))", "tags.a = 1"),
        (
            "not (tags.a = 1 and tags.b = 2)",
            "NOT (tags.a = 1 AND tags.b = 2)",
        ),
        ("NOT NOT is_defined(tags.a)", "NOT NOT IS_DEFINED(tags.a)"),
        (
            "DeviceId in [\"it's\", 'back\\\\slash'] ",
            r"deviceId IN ['it\'s', 'back\\slash']",
        ),
        (
            "tags.a nin [TRUE, Null, -0x10, 2.5, 1e20]",
            "tags.a NIN [true, null, -16, 2.5, 1e+20]",
        ),
        ("tags.a <> 'x'", "tags.a != 'x'"),
        (
            "properties.reported.$version >= 3",
            "properties.reported.$version >= 3",
        ),
        ("*", "*"),
    ] {
        let read = filter(text);
        assert_eq!(read.to_string(), rendered, "{text}");
        assert_eq!(condition(&read.to_string()), Ok(read), "{text}");
    }
}

#[test]
fn a_property_compares_with_another_of_the_same_document() {
    let applied = condition(
        "properties.desired.$version = properties.reported.lastDesiredVersion AND \
         properties.reported.lastDesiredStatus.code = 200",
    )
    .unwrap();
    let twin = |desired: Value, reported: Value| {
        json!({"properties": {"desired": {"$version": desired},
            "reported": {"lastDesiredVersion": reported, "lastDesiredStatus": {"code": 200}}}})
    };
    assert!(applied.matches(&twin(json!(3), json!(3))));
    assert!(!applied.matches(&twin(json!(3), json!(2))));
    assert!(
        !applied.matches(&twin(json!(3), json!("3"))),
        "types differ: undefined"
    );
    assert!(
        !applied.matches(&json!({"properties": {"desired": {"$version": 3}}})),
        "undefined"
    );
    let behind = condition("properties.reported.fw < properties.desired.fw").unwrap();
    assert!(
        behind
            .matches(&json!({"properties": {"desired": {"fw": "2.4"}, "reported": {"fw": "2.3"}}}))
    );
    assert!(
        !behind
            .matches(&json!({"properties": {"desired": {"fw": "2.4"}, "reported": {"fw": "2.4"}}}))
    );
    assert_eq!(
        behind.to_string(),
        "properties.reported.fw < properties.desired.fw"
    );
    assert!(condition("tags.a = true").is_ok() && condition("tags.a = NULL").is_ok());
}

#[test]
fn group_by_reads_its_paths_and_keeps_what_is_selected() {
    let grouped = query(
        "SELECT properties.reported.fw AS fw, tags.ring, COUNT() AS n FROM devices \
         WHERE tags.model = 't1' GROUP BY tags.ring, properties.reported.fw",
    )
    .unwrap();
    let Select::Grouped { fields, count, by } = grouped.select else {
        panic!("{:?}", grouped.select);
    };
    let names: Vec<&str> = fields.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(names, ["fw", "ring"]);
    assert_eq!(count.as_deref(), Some("n"));
    let by: Vec<String> = by.iter().map(ToString::to_string).collect();
    assert_eq!(by, ["tags.ring", "properties.reported.fw"]);
    assert!(grouped.filter.matches(&json!({"tags": {"model": "t1"}})));
    let only_count = query("select count() as n from devices group by tags.ring").unwrap();
    assert!(matches!(only_count.select, Select::Grouped { ref fields, .. } if fields.is_empty()));
    assert!(
        query("SELECT tags.ring FROM devices GROUP BY tags.ring").is_ok(),
        "distinct values"
    );
}
