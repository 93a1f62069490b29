//! Response contract, property-based: JSON instances generated from the response schemas in
//! spec/ (`JobResponse`, `JobProperties`, `DeviceJob`) — every property present, absent or `null`, every enum value and unknown ones,
//! integer extremes, date-times with 0–9 fraction digits with and without an offset, nested
//! free-form maps, fields the spec does not know — must each (a) deserialize into the public
//! model, (b) serialize back to JSON that spec/'s schema accepts (but for the unlisted enum
//! values, kept on purpose), and (c) keep their values: the same JSON, less `null`s and unknown
//! fields, with timestamps as the same instant in UTC.
//!
//! The generator reads spec/ at test time, so a schema change reaches it without edits here.
//! Failing cases are kept in `tests/it/contract_responses.proptest-regressions` and replayed
//! first on every run.

use chrono::{DateTime, SecondsFormat, Utc};
use iothub_jobs::models::{DeviceJob, JobProperties, JobResponse};
use proptest::{prelude::*, test_runner::FileFailurePersistence};
use serde_json::{Map, Value, json};

use crate::support;

/// A generated input and the JSON the model must write back for it (`None`: the field is
/// left out, as for `null` and unknown fields).
type Case = (Value, Option<Value>);

/// Strategies for the schemas of spec/.
struct Generator {
    schemas: Map<String, Value>,
}

impl Generator {
    fn new() -> Self {
        let spec = support::spec();
        Self {
            schemas: spec["components"]["schemas"].as_object().unwrap().clone(),
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let reference = schema["$ref"]
            .as_str()
            .or_else(|| schema["allOf"][0]["$ref"].as_str());
        match reference {
            Some(reference) => &self.schemas[reference.trim_start_matches("#/components/schemas/")],
            None => schema,
        }
    }

    fn value(&self, schema: &Value) -> BoxedStrategy<Case> {
        let schema = self.resolve(schema);
        if let Some(values) = schema["enum"].as_array() {
            return enum_value(
                values
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect(),
            );
        }
        match (
            schema["type"].as_str().unwrap_or("any"),
            schema["format"].as_str(),
        ) {
            ("string", Some("date-time")) => date_time(),
            ("string", _) => any::<String>()
                .prop_map(|s| (json!(s), Some(json!(s))))
                .boxed(),
            ("integer", Some("int32")) => {
                prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(0), any::<i32>()]
                    .prop_map(same)
                    .boxed()
            }
            ("integer", _) => prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0), any::<i64>()]
                .prop_map(same)
                .boxed(),
            ("boolean", _) => any::<bool>().prop_map(same).boxed(),
            ("array", _) => proptest::collection::vec(self.value(&schema["items"]), 0..4)
                .prop_map(|items| {
                    let (input, output): (Vec<Value>, Vec<Value>) = items
                        .into_iter()
                        .map(|(i, o)| (i, o.expect("array items are never absent")))
                        .unzip();
                    (Value::Array(input), Some(Value::Array(output)))
                })
                .boxed(),
            ("object", _) if schema.get("properties").is_some() => self.object(schema),
            // A map: its values as the spec describes them or, as in real twins
            // (`"$version": 4`), scalars; kept as they are.
            ("object", _) if schema["additionalProperties"].is_object() => {
                let scalar = prop_oneof![
                    any::<i64>().prop_map(Value::from),
                    ".{0,8}".prop_map(Value::from),
                    any::<bool>().prop_map(Value::from),
                ]
                .prop_map(|v| (v.clone(), Some(v)));
                let value =
                    prop_oneof![3 => self.value(&schema["additionalProperties"]), 1 => scalar];
                proptest::collection::btree_map("[$a-zA-Z0-9_]{1,8}", value, 0..4)
                    .prop_map(|entries| {
                        let (input, output) = entries
                            .into_iter()
                            .map(|(k, (i, o))| {
                                ((k.clone(), i), (k, o.expect("map values are never absent")))
                            })
                            .unzip();
                        (Value::Object(input), Some(Value::Object(output)))
                    })
                    .boxed()
            }
            // A free-form object: nested JSON, kept as is.
            ("object", _) => free_form_object()
                .prop_map(|o| (o.clone(), Some(o)))
                .boxed(),
            // Any JSON (a device's method payload): a scalar, a list or an object, kept as is.
            // (`null` stands for absent, which the property slots generate already.)
            ("any", _) => prop_oneof![
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                ".{0,8}".prop_map(Value::from),
                proptest::collection::vec(".{0,4}".prop_map(Value::from), 0..3)
                    .prop_map(Value::Array),
                free_form_object(),
            ]
            .prop_map(|v| (v.clone(), Some(v)))
            .boxed(),
            other => panic!("the generator does not know schemas of type {other:?}: {schema}"),
        }
    }

    /// Each property present, absent or `null`, plus now and then a field the spec does not
    /// define, which the model must ignore.
    fn object(&self, schema: &Value) -> BoxedStrategy<Case> {
        let properties: Vec<BoxedStrategy<(String, Option<Case>)>> = schema["properties"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, property)| {
                let name = name.clone();
                prop_oneof![
                    2 => Just(None),
                    1 => Just(Some((Value::Null, None))),
                    5 => self.value(property).prop_map(Some),
                ]
                .prop_map(move |slot| (name.clone(), slot))
                .boxed()
            })
            .collect();
        let unknown = proptest::option::weighted(0.2, ("zz[a-z]{1,6}", free_form_object()));
        (properties, unknown)
            .prop_map(|(slots, unknown)| {
                let (mut input, mut output) = (Map::new(), Map::new());
                for (name, slot) in slots {
                    if let Some((given, kept)) = slot {
                        input.insert(name.clone(), given);
                        if let Some(kept) = kept {
                            output.insert(name, kept);
                        }
                    }
                }
                if let Some((name, value)) = unknown {
                    input.insert(name, value);
                }
                (Value::Object(input), Some(Value::Object(output)))
            })
            .boxed()
    }
}

fn same<T: Into<Value>>(value: T) -> Case {
    let value = value.into();
    (value.clone(), Some(value))
}

/// A listed value, or a value the spec does not list yet, which must survive unchanged.
fn enum_value(known: Vec<String>) -> BoxedStrategy<Case> {
    let unlisted = known.clone();
    prop_oneof![
        3 => proptest::sample::select(known),
        1 => "[a-zA-Z][a-zA-Z0-9]{0,15}".prop_filter("not a listed value", move |v| !unlisted.contains(v)),
    ]
    .prop_map(|v| same(v.as_str()))
    .boxed()
}

/// A date-time anywhere in years 0000–9999 (the ends included), written with 0–9 fraction
/// digits and an offset of `Z`, `±hh:mm` or none (the service's form for UTC), and the instant
/// written back as UTC. An offset that would take the written year out of four digits is left
/// out.
fn date_time() -> BoxedStrategy<Case> {
    let earliest = DateTime::parse_from_rfc3339("0000-01-01T00:00:00Z")
        .unwrap()
        .timestamp();
    let latest = DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
        .unwrap()
        .timestamp();
    (
        prop_oneof![1 => Just(earliest), 1 => Just(latest), 8 => earliest..=latest],
        0..=9u32,
        any::<u32>(),
        prop_oneof![
            Just(None),
            Just(Some(0)),
            (-(14 * 60)..=(14 * 60)).prop_map(Some)
        ],
    )
        .prop_map(
            |(seconds, digits, fraction, offset_minutes): (i64, u32, u32, Option<i32>)| {
                let fraction = if digits == 0 {
                    0
                } else {
                    fraction % 10u32.pow(digits)
                };
                let nanos = fraction * 10u32.pow(9 - digits);
                let instant = DateTime::<Utc>::from_timestamp(seconds, nanos).unwrap();
                let shifted =
                    |minutes: i32| instant.naive_utc() + chrono::Duration::minutes(minutes.into());
                let offset_minutes = offset_minutes
                    .filter(|m| (0..=9999).contains(&chrono::Datelike::year(&shifted(*m))));
                let local = shifted(offset_minutes.unwrap_or(0));
                let mut text = local.format("%Y-%m-%dT%H:%M:%S").to_string();
                if digits > 0 {
                    text.push_str(&format!(".{fraction:0width$}", width = digits as usize));
                }
                match offset_minutes {
                    None => {}
                    Some(0) => text.push('Z'),
                    Some(m) => text.push_str(&format!(
                        "{}{:02}:{:02}",
                        if m < 0 { '-' } else { '+' },
                        m.abs() / 60,
                        m.abs() % 60
                    )),
                }
                (
                    json!(text),
                    Some(json!(instant.to_rfc3339_opts(SecondsFormat::AutoSi, true))),
                )
            },
        )
        .boxed()
}

/// A JSON object with nested objects, arrays and scalars, as twin properties hold.
fn free_form_object() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    let nested = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[$a-zA-Z0-9_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    proptest::collection::btree_map("[$a-zA-Z0-9_]{1,8}", nested, 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
        .boxed()
}

/// What spec/ allows for `schema`, as the generator writes it.
fn responses(schema: &str) -> BoxedStrategy<Case> {
    Generator::new().value(&json!({"$ref": format!("#/components/schemas/{schema}")}))
}

/// (a) the model reads `input`, (b) writes it back valid against `validator` (map values as the
/// model takes them: any JSON, not only objects; spec/README.md says why), (c) with its values
/// kept.
fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(
    validator: &jsonschema::Validator,
    (input, expected): Case,
) -> Result<(), TestCaseError> {
    let model: T = serde_json::from_value(input)
        .map_err(|e| TestCaseError::fail(format!("(a) the model rejects it: {e}")))?;
    let written = serde_json::to_value(&model).unwrap();
    // Values outside an enum can only be the unlisted ones generated on purpose, and (c)
    // checks they come back unchanged; everything else must be as spec/ says.
    let problems = support::violations_except_enums(validator, &written, true);
    prop_assert!(
        problems.is_empty(),
        "(b) written back, spec/ rejects it:\n{}\n{}",
        problems,
        written
    );
    prop_assert_eq!(Some(written), expected, "(c) values changed");
    Ok(())
}

static JOB_RESPONSE: std::sync::LazyLock<jsonschema::Validator> =
    std::sync::LazyLock::new(|| support::lenient_validator_for("JobResponse"));
static JOB_PROPERTIES: std::sync::LazyLock<jsonschema::Validator> =
    std::sync::LazyLock::new(|| support::lenient_validator_for("JobProperties"));
static DEVICE_JOB: std::sync::LazyLock<jsonschema::Validator> =
    std::sync::LazyLock::new(|| support::lenient_validator_for("DeviceJob"));

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES lowers this where time is short (each mutant of a mutation run).
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(3000),
        // Set by .ci/mutants: a failure under a mutant found the mutant, not a case to keep.
        // (This explicit setting overrides the one proptest's default reads from it.)
        failure_persistence: if std::env::var_os("PROPTEST_DISABLE_FAILURE_PERSISTENCE").is_some() {
            None
        } else {
            Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions")))
        },
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_response_the_spec_allows_round_trips_through_the_model(case in responses("JobResponse")) {
        round_trips::<JobResponse>(&JOB_RESPONSE, case)?;
    }

    #[test]
    fn every_import_export_job_the_spec_allows_round_trips_through_the_model(case in responses("JobProperties")) {
        round_trips::<JobProperties>(&JOB_PROPERTIES, case)?;
    }

    #[test]
    fn every_device_job_row_the_spec_allows_round_trips_through_the_model(case in responses("DeviceJob")) {
        round_trips::<DeviceJob>(&DEVICE_JOB, case)?;
    }
}
