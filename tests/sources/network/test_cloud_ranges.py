"""The clouds' published IP ranges: the bundled snapshot, the providers' own files, the compact
form and its refresh command, and bad files."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from unitcost.base.errors import InputError
from unitcost.costmodel.network import Classifier, Topology
from unitcost.data.network import Place, TrafficClass
from unitcost.sources.network import cloud_ranges

HERE = Place("aws", "us-east-1", "us-east-1a", "node-a")

#: A small file in AWS's published shape (two adjacent /24s of one region merge into a /23).
AWS_FILE = {
    "syncToken": "1",
    "createDate": "2026-11-01-00-00-00",
    "prefixes": [
        {"ip_prefix": "198.51.100.0/24", "region": "eu-west-3", "service": "AMAZON"},
        {"ip_prefix": "198.51.100.0/24", "region": "eu-west-3", "service": "EC2"},
        {"ip_prefix": "198.51.101.0/24", "region": "eu-west-3", "service": "S3"},
        {"ip_prefix": "192.0.2.0/24", "region": "GLOBAL", "service": "CLOUDFRONT"},
    ],
    "ipv6_prefixes": [{"ipv6_prefix": "2001:db8:1::/48", "region": "us-east-1", "service": "S3"}],
}
GCP_FILE = {
    "syncToken": "2",
    "creationTime": "2026-11-02T00:00:00.000000",
    "prefixes": [
        {"ipv4Prefix": "203.0.113.0/24", "service": "Google Cloud", "scope": "europe-west1"},
        {"ipv6Prefix": "2001:db8:2::/48", "service": "Google Cloud", "scope": "us-east1"},
    ],
}


def classify(ranges: cloud_ranges.CloudRanges, address: str, here: Place = HERE) -> TrafficClass:
    return Classifier(Topology(here=here, networks=ranges.ranges)).classify(address)[0]


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_bundled_snapshot_carries_its_dates_and_real_prefixes() -> None:
    bundled = cloud_ranges.bundled()
    by_provider = {s.provider: s for s in bundled.snapshots}
    assert set(by_provider) == {"aws", "gcp"}
    # The providers' own dates (AWS createDate, Google creationTime) and the source named.
    assert by_provider["aws"].created == "2025-07-24-20-23-14"
    assert by_provider["gcp"].created == "2025-07-24T19:16:28.780563"
    assert "ip-ranges.amazonaws.com" in by_provider["aws"].source
    assert "gstatic.com/ipranges/cloud.json" in by_provider["gcp"].source
    assert by_provider["aws"].prefixes > 1000 and by_provider["gcp"].prefixes > 500
    assert len(bundled.ranges) == sum(s.prefixes for s in bundled.snapshots)
    # Prefixes of the published files: AWS 3.5.140.0/22 is ap-northeast-2, Google's
    # 34.35.0.0/16 is africa-south1; seen from an AWS us-east-1 node.
    assert classify(bundled, "3.5.140.9") is TrafficClass.OTHER_REGION
    assert Classifier(Topology(here=HERE, networks=bundled.ranges)).place_of(
        ipaddress.ip_address("3.5.140.9")
    ) == Place("aws", "ap-northeast-2")
    assert classify(bundled, "34.35.1.1") is TrafficClass.OTHER_CLOUD
    gcp_here = Place("gcp", "africa-south1", "africa-south1-a", "node-g")
    assert classify(bundled, "34.35.1.1", gcp_here) is TrafficClass.SAME_REGION
    # An address in no provider's range is the internet.
    assert classify(bundled, "9.9.9.9") is TrafficClass.INTERNET


def test_published_files_parse_with_region_scope_and_global() -> None:
    aws = cloud_ranges.parse_published(AWS_FILE, "ip-ranges.json")
    assert aws.snapshots == (
        cloud_ranges.Snapshot("aws", "2026-11-01-00-00-00", "ip-ranges.json", 5),
    )
    assert classify(aws, "198.51.101.7") is TrafficClass.OTHER_REGION
    assert classify(aws, "2001:db8:1::5") is TrafficClass.SAME_REGION
    # GLOBAL (CloudFront, anycast): no region, so another region's for pricing.
    assert classify(aws, "192.0.2.1") is TrafficClass.OTHER_REGION
    gcp = cloud_ranges.parse_published(GCP_FILE, "cloud.json")
    assert gcp.snapshots[0].created == "2026-11-02T00:00:00.000000"
    assert classify(gcp, "203.0.113.4", Place("gcp", "europe-west1")) is TrafficClass.SAME_REGION
    assert classify(gcp, "2001:db8:2::1") is TrafficClass.OTHER_CLOUD


def test_a_file_replaces_the_bundled_snapshot_of_its_provider_only(tmp_path: Path) -> None:
    path = write(tmp_path / "ip-ranges.json", AWS_FILE)
    loaded = cloud_ranges.load([path])
    providers = {s.provider: s.created for s in loaded.snapshots}
    assert providers == {"aws": "2026-11-01-00-00-00", "gcp": "2025-07-24T19:16:28.780563"}
    # The bundled AWS prefixes are gone, the bundled Google ones stay.
    assert classify(loaded, "3.5.140.9") is TrafficClass.INTERNET
    assert classify(loaded, "198.51.100.1") is TrafficClass.OTHER_REGION
    assert classify(loaded, "34.35.1.1") is TrafficClass.OTHER_CLOUD
    assert cloud_ranges.load([], use_bundled=False).ranges == ()


def test_compact_form_round_trips_and_the_command_writes_it(tmp_path: Path) -> None:
    aws_path = write(tmp_path / "ip-ranges.json", AWS_FILE)
    gcp_path = write(tmp_path / "cloud.json", GCP_FILE)
    out = tmp_path / "compact.json"
    code = cloud_ranges.main(
        [str(aws_path), str(gcp_path), "--origin", "test copies", "-o", str(out)]
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert data["format"] == cloud_ranges.FORMAT
    # Duplicates (one prefix, two services) dropped, adjacent /24s of a region merged.
    assert data["providers"]["aws"]["regions"]["eu-west-3"] == "198.51.100.0/23"
    assert data["providers"]["aws"]["created"] == "2026-11-01-00-00-00"
    assert data["providers"]["aws"]["source"] == f"{cloud_ranges.AWS_URL} (test copies)"
    compacted = cloud_ranges.read(out)
    published = cloud_ranges.load([aws_path, gcp_path], use_bundled=False)
    for address in ("198.51.100.1", "198.51.101.255", "192.0.2.9", "2001:db8:1::1", "203.0.113.1"):
        assert classify(compacted, address) == classify(published, address), address
    assert {s.created for s in compacted.snapshots} == {s.created for s in published.snapshots}


def test_the_command_reports_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "ip-ranges.json", {"prefixes": []})
    assert cloud_ranges.main([str(bad), "-o", str(tmp_path / "out.json")]) == 2
    assert "createDate" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"createDate": "x"}), "prefixes: missing"),
        (json.dumps({"prefixes": []}), "neither createDate"),
        (
            json.dumps(
                {"createDate": "x", "prefixes": [{"ip_prefix": "3.5.0.0/33", "region": "a"}]}
            ),
            "prefixes[0]: not a CIDR (got '3.5.0.0/33')",
        ),
        (
            json.dumps({"createDate": "x", "prefixes": [{"ip_prefix": "3.5.0.0/16"}]}),
            "prefixes[0].region: missing",
        ),
        (
            json.dumps({"creationTime": "x", "prefixes": [{"scope": "us-east1"}]}),
            "prefixes[0]: no prefix",
        ),
        (
            json.dumps({"createDate": "x", "prefixes": [], "ipv6_prefixes": ["2001:db8::/32"]}),
            "ipv6_prefixes[0]: not a mapping",
        ),
        (json.dumps({"format": "other/9"}), "format: expected 'unitcost.cloud-ranges/1'"),
        (json.dumps({"format": cloud_ranges.FORMAT, "providers": {}}), "providers: missing"),
        (
            json.dumps(
                {
                    "format": cloud_ranges.FORMAT,
                    "providers": {"aws": {"source": "s", "regions": {}}},
                }
            ),
            "providers.aws.created: missing",
        ),
        (
            json.dumps(
                {
                    "format": cloud_ranges.FORMAT,
                    "providers": {
                        "aws": {
                            "created": "c",
                            "source": "s",
                            "regions": {"eu-west-1": "1.2.3.0/24 x"},
                        }
                    },
                }
            ),
            "providers.aws.regions.eu-west-1: not a CIDR (got 'x')",
        ),
    ],
)
def test_bad_files_are_named_with_the_field(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "ranges.json"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        cloud_ranges.read(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere\.json"):
        cloud_ranges.load([tmp_path / "nowhere.json"])
