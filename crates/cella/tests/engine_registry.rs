//! Registries: pull, push, save, login, run's pull, registries.conf, against
//! a real registry (Debian's docker-registry, i.e. distribution) on the
//! loopback of a network namespace each test makes, seeded with skopeo.

#[path = "support/engine.rs"]
mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;

/// A test's work directory and the cella command line its scripts use.
struct Lab {
    e: Engine,
    w: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        let e = Engine::new();
        let w = e.root.parent().unwrap().join("work");
        std::fs::create_dir_all(&w).unwrap();
        Lab { e, w }
    }

    /// `cella` with the test's store, registry settings and credentials.
    fn cella(&self, e: &Engine) -> String {
        let base = e.root.parent().unwrap();
        format!(
            "env CELLA_DEFAULT_NETWORK=none REGISTRY_AUTH_FILE={b}/auth.json DOCKER_CONFIG={b}/docker \
             XDG_CONFIG_HOME={b}/config CELLA_REGISTRIES_CONF={b}/registries.conf {CELLA} --root {} --runroot {}",
            e.root.display(),
            e.runroot.display(),
            b = base.display()
        )
    }

    /// A two-layer docker archive NAME.tar as docker save lays it out: busybox
    /// (gzip) and a layer with /marker holding NAME; the config says `arch`.
    fn seed_archive(&self, name: &str, arch: &str) -> PathBuf {
        let d = self.w.join(format!("src-{name}"));
        cella_testsupport::busybox_rootfs(&d.join("l1"));
        let out = Command::new("sh")
            .args(["-ec", &format!(
                "cd {d} && mkdir -p l2 arch && echo {name} > l2/marker && \
                 (cd l1 && tar -czf ../arch/l1.tar.gz .) && (cd l2 && tar -cf ../arch/l2.tar .) && \
                 d1=$(gunzip -c arch/l1.tar.gz | sha256sum | cut -d' ' -f1) && d2=$(sha256sum arch/l2.tar | cut -d' ' -f1) && \
                 echo '{{\"created\":\"2026-01-01T00:00:00Z\",\"architecture\":\"{arch}\",\"os\":\"linux\",\"config\":{{\"Cmd\":[\"/bin/sh\"],\"Env\":[\"PATH=/bin\",\"PULLED=yes\"]}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"sha256:'$d1'\",\"sha256:'$d2'\"]}}}}' > arch/cfg.json && \
                 echo '[{{\"Config\":\"cfg.json\",\"RepoTags\":[\"x/{name}:1\"],\"Layers\":[\"l1.tar.gz\",\"l2.tar\"]}}]' > arch/manifest.json && \
                 (cd arch && tar -cf {w}/{name}.tar .)",
                d = d.display(),
                w = self.w.display()
            )])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        self.w.join(format!("{name}.tar"))
    }

    /// Runs `script` under bash in a new network namespace, with `lo` up,
    /// `start_registry [htpasswd|token]` (on 127.0.0.1:5055, storage under $W)
    /// and `$C` (cella) defined; the registry is stopped when it ends.
    fn run(&self, script: &str) -> Script {
        let full = format!(
            r#"set -u; W={w}; C='{c}'
            ip link set lo up
            trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null' EXIT
            start_registry() {{
              {{ printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/registry\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:5055\n' $W
                 if [ "${{1:-}}" = htpasswd ]; then printf 'auth:\n  htpasswd:\n    realm: cella-test\n    path: %s/htpasswd\n' $W; fi
                 if [ "${{1:-}}" = token ]; then printf 'auth:\n  token:\n    realm: http://127.0.0.1:5060/token\n    service: cella-test-registry\n    issuer: cella-test-issuer\n    rootcertbundle: %s/token.crt\n' $W; fi
              }} > $W/registry.yml
              env -u REGISTRY_AUTH_FILE docker-registry serve $W/registry.yml >$W/registry.log 2>&1 &
              for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/5055) 2>/dev/null && return; sleep 0.05; done
              echo "the registry did not start: $(cat $W/registry.log)"; exit 1
            }}
            {script}"#,
            w = self.w.display(),
            c = self.cella(&self.e),
        );
        let out = Command::new("unshare")
            .args(["--net", "bash", "-c", &full])
            .output()
            .unwrap();
        Script {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            text: format!(
                "{}\n{}\n{:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                out.status
            ),
        }
    }
}

struct Script {
    stdout: String,
    /// Everything, for assertion messages.
    text: String,
}

impl Script {
    /// The value of a `key=value` line the script printed.
    fn v(&self, key: &str) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")).map(|s| s.trim().to_string()))
            .unwrap_or_default()
    }

    fn expect(&self, pairs: &[(&str, &str)]) {
        for (k, want) in pairs {
            assert_eq!(self.v(k), *want, "{k}: {}", self.text);
        }
    }
}

#[test]
fn pull_run_and_refuse_a_corrupted_blob() {
    let lab = Lab::new();
    let archive = lab.seed_archive("bb", "amd64");
    let s = lab.run(&format!(
        r#"start_registry
        skopeo copy -q --dest-tls-verify=false docker-archive:{a} docker://127.0.0.1:5055/test/bb:1
        echo pull_rc=$($C pull --tls-verify=false 127.0.0.1:5055/test/bb:1 >/dev/null 2>$W/plain.log; echo $?)
        # Off a terminal: one line per blob.
        echo plain=$(grep -c '^Copying blob [0-9a-f]\{{12\}} done' $W/plain.log)
        echo run=$($C run --rm 127.0.0.1:5055/test/bb:1 sh -c 'cat /marker; echo $PULLED')
        echo images=$($C images --format json | grep -c '127.0.0.1:5055/test/bb:1')
        echo https=$($C pull 127.0.0.1:5055/test/bb:1 2>&1 | grep -ci 'https\|tls\|ssl')
        echo missing=$($C pull --tls-verify=false 127.0.0.1:5055/test/nope:1 2>&1 | grep -c 404)
        $C rmi 127.0.0.1:5055/test/bb:1 >/dev/null
        # On a terminal: a bar per layer, each ending "done".
        script -qc "$C pull --tls-verify=false 127.0.0.1:5055/test/bb:1" /dev/null > $W/tty.log
        echo bars=$(grep -o 'Copying blob [0-9a-f]* \[=*\] [^[]* done' $W/tty.log | cut -d' ' -f3 | sort -u | wc -l)
        $C rmi 127.0.0.1:5055/test/bb:1 >/dev/null
        echo blobs=$(ls {root}/blobs/sha256 | wc -l)
        # Corrupt the busybox layer's blob in the registry: the pull must refuse it.
        # (in place: the registry serves a blob's recorded length)
        for f in $(find $W/registry -path '*blobs/sha256/*/data' -size +2k); do printf 'XXXX' | dd of=$f bs=1 seek=1000 conv=notrunc 2>/dev/null; done
        echo corrupt=$($C pull --tls-verify=false 127.0.0.1:5055/test/bb:1 2>&1 | grep -c 'does not match its digest')
        echo stored=$($C images -q | wc -l)
        echo tmp=$(ls {root}/tmp | wc -l)
        echo partial=$(ls {root}/partial | wc -l)
        echo blobs_after=$(ls {root}/blobs/sha256 | wc -l)
        "#,
        a = archive.display(),
        root = lab.e.root.display()
    ));
    s.expect(&[
        ("pull_rc", "0"),
        ("plain", "2"),
        ("bars", "2"),
        ("run", "bb yes"),
        ("images", "1"),
        ("missing", "1"),
        ("blobs", "0"),
        ("corrupt", "1"),
        ("tmp", "0"),
        ("partial", "0"),
        ("blobs_after", "0"),
    ]);
    assert_ne!(
        s.v("https"),
        "0",
        "without --tls-verify=false it speaks HTTPS: {}",
        s.text
    );
    // (images -q leaves out the built-in host image.)
    assert_eq!(s.v("stored"), "0", "nothing stored: {}", s.text);
}

#[test]
fn a_killed_transfer_leaves_nothing_once_the_store_is_used_again() {
    let e = Engine::new();
    // What a killed pull (or import, or load) leaves: files in tmp/.
    e.ok(&["images"]);
    // (named KIND-PID-RANDOM; PID 0 is never a live process's)
    let stale = e.root.join("tmp/pull-0-deadbeef");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("0"), b"half a layer").unwrap();
    let dir = e.root.with_file_name("rootfs");
    cella_testsupport::busybox_rootfs(&dir);
    // Partial blobs wait a day for a pull to resume them.
    let partial = e.root.join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    let (old, fresh) = (partial.join("sha256-old"), partial.join("sha256-fresh"));
    for p in [&old, &fresh] {
        std::fs::write(p, b"part of a blob").unwrap();
    }
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    e.ok(&["import", dir.to_str().unwrap(), "after:1"]);
    assert!(!stale.exists(), "swept under the store lock");
    assert_eq!(std::fs::read_dir(e.root.join("tmp")).unwrap().count(), 0);
    assert!(!old.exists() && fresh.exists(), "only day-old partial blobs go");
}

#[test]
fn save_load_push_and_pull_back_keep_the_image_id() {
    let lab = Lab::new();
    let other = Engine::new();
    let archive = lab.seed_archive("bb", "amd64");
    let s = lab.run(&format!(
        r#"start_registry
        C2='{c2}'
        skopeo copy -q --dest-tls-verify=false docker-archive:{a} docker://127.0.0.1:5055/test/bb:1
        id=$($C pull -q --tls-verify=false 127.0.0.1:5055/test/bb:1)
        echo id=$id
        echo layers=$(skopeo inspect --tls-verify=false docker://127.0.0.1:5055/test/bb:1 | tr -d ' \n' | grep -o '"Layers":\[[^]]*\]')
        # Push under another name: the very blobs and manifest pulled.
        echo manifest_digest=$($C push --tls-verify=false 127.0.0.1:5055/test/bb:1 127.0.0.1:5055/other/copy:2 2>$W/push.log)
        echo source_digest=sha256:$(skopeo inspect --raw --tls-verify=false docker://127.0.0.1:5055/test/bb:1 | sha256sum | cut -d' ' -f1)
        echo pushed=$(skopeo inspect --tls-verify=false docker://127.0.0.1:5055/other/copy:2 | tr -d ' \n' | grep -o '"Layers":\[[^]]*\]')
        echo push_again=$($C push --tls-verify=false 127.0.0.1:5055/test/bb:1 127.0.0.1:5055/other/copy:2 2>&1 | grep -c 'skipped: already exists')
        # docker-archive: skopeo reads it, and it loads back as the same image.
        $C save -o $W/d.tar 127.0.0.1:5055/test/bb:1 && echo docker_archive=$(skopeo inspect docker-archive:$W/d.tar | grep -c '"Architecture": "amd64"')
        echo stdout_save=$($C save 127.0.0.1:5055/test/bb:1 | cmp - $W/d.tar && echo same)
        $C rmi 127.0.0.1:5055/test/bb:1 >/dev/null
        echo loaded=$($C load -i $W/d.tar)
        echo load_id=$($C image inspect 127.0.0.1:5055/test/bb:1 | grep -o '"Id": "[^"]*"')
        echo run=$($C run --rm 127.0.0.1:5055/test/bb:1 cat /marker)
        # oci-archive: skopeo copies it out; loads back as the same image.
        $C save --format oci-archive -o $W/o.tar 127.0.0.1:5055/test/bb:1
        skopeo copy -q oci-archive:$W/o.tar dir:$W/ocidir && echo oci_archive=ok
        # podman loads both archives as the same image.
        P="podman --root $W/pm --runroot $W/pmrun --storage-driver vfs --events-backend none"
        $P load -q -i $W/d.tar >/dev/null && $P load -q -i $W/o.tar >/dev/null
        echo podman_ids=$($P images --no-trunc --format '{{{{.ID}}}}' | sort -u | tr '\n' ' ')
        $P rmi -a -f >/dev/null 2>&1
        $C rmi 127.0.0.1:5055/test/bb:1 >/dev/null
        $C load -i $W/o.tar >/dev/null
        echo oci_id=$($C image inspect 127.0.0.1:5055/test/bb:1 | grep -o '"Id": "[^"]*"')
        # A second store: run with --pull never refuses, run pulls what is missing.
        echo never=$($C2 run --rm --pull never 127.0.0.1:5055/other/copy:2 true 2>&1 | grep -c 'pull it first')
        echo run2=$($C2 run --rm --tls-verify=false 127.0.0.1:5055/other/copy:2 cat /marker 2>$W/run2.log)
        echo pulled_by_run=$(grep -c 'Trying to pull 127.0.0.1:5055/other/copy:2' $W/run2.log)
        echo id2=$($C2 image inspect 127.0.0.1:5055/other/copy:2 | grep -o '"Id": "[^"]*"')
        echo always=$($C2 run --rm --pull always --tls-verify=false 127.0.0.1:5055/other/copy:2 true 2>&1 | grep -c 'Trying to pull')
        echo pulled_again=$($C2 pull --tls-verify=false 127.0.0.1:5055/other/copy:2 2>&1 | grep -c 'Copying blob')
        $C2 rmi 127.0.0.1:5055/other/copy:2 >/dev/null; $C rmi 127.0.0.1:5055/test/bb:1 >/dev/null
        echo left=$(find {root}/blobs/sha256 {root2}/blobs/sha256 {root}/layers {root2}/layers -mindepth 1 -maxdepth 1 | wc -l)
        "#,
        a = archive.display(),
        c2 = lab.cella(&other),
        root = lab.e.root.display(),
        root2 = other.root.display()
    ));
    let id = s.v("id");
    assert!(id.starts_with("sha256:"), "{}", s.text);
    let id_json = format!("\"Id\": \"{id}\"");
    s.expect(&[
        ("docker_archive", "1"),
        ("stdout_save", "same"),
        ("loaded", "Loaded image: 127.0.0.1:5055/test/bb:1"),
        ("load_id", &id_json),
        ("run", "bb"),
        ("oci_archive", "ok"),
        ("oci_id", &id_json),
        ("push_again", "3"),
        ("never", "1"),
        ("run2", "bb"),
        ("pulled_by_run", "1"),
        ("id2", &id_json),
        ("always", "1"),
        ("pulled_again", "0"),
        ("left", "0"),
    ]);
    assert!(s.v("layers").contains("sha256:"), "{}", s.text);
    assert_eq!(
        s.v("podman_ids").trim_start_matches("sha256:"),
        id.trim_start_matches("sha256:"),
        "podman reads cella's archives: {}",
        s.text
    );
    assert_eq!(
        s.v("pushed"),
        s.v("layers"),
        "pushed blobs are the pulled ones: {}",
        s.text
    );
    assert_eq!(
        s.v("manifest_digest"),
        s.v("source_digest"),
        "the manifest too: {}",
        s.text
    );
}

#[test]
fn zstd_layers_and_a_platform_from_a_multi_platform_index() {
    let lab = Lab::new();
    let amd = lab.seed_archive("amd", "amd64");
    lab.seed_archive("arm", "arm64");
    let s = lab.run(&format!(
        r#"start_registry
        skopeo copy -q --format oci --dest-compress-format zstd --dest-tls-verify=false docker-archive:{amd} docker://127.0.0.1:5055/test/z:1
        echo zstd_in_registry=$(skopeo inspect --raw --tls-verify=false docker://127.0.0.1:5055/test/z:1 | grep -o 'tar+zstd' | wc -l)
        echo zstd_run=$($C run --rm --tls-verify=false 127.0.0.1:5055/test/z:1 cat /marker 2>/dev/null)
        echo zstd_blobs=$(for f in {root}/blobs/sha256/*; do head -c4 $f | od -An -tx1; done | grep -c '28 b5 2f fd')
        # An index with both platforms, as docker buildx pushes them.
        for p in amd:amd64 arm:arm64; do
          n=${{p%%:*}}; a=${{p##*:}}
          skopeo copy -q --format oci --dest-tls-verify=false docker-archive:$W/$n.tar docker://127.0.0.1:5055/test/multi:$n
          skopeo inspect --raw --tls-verify=false docker://127.0.0.1:5055/test/multi:$n > $W/$n.manifest
          eval "${{n}}_digest=sha256:$(sha256sum < $W/$n.manifest | cut -d' ' -f1) ${{n}}_size=$(stat -c %s $W/$n.manifest)"
          echo ${{n}}_config=$(skopeo inspect --config --raw --tls-verify=false docker://127.0.0.1:5055/test/multi:$n | sha256sum | cut -d' ' -f1)
        done
        printf '{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}' \
          $amd_digest $amd_size $arm_digest $arm_size > $W/index.json
        echo put=$(curl -s -o /dev/null -w '%{{http_code}}' -X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' --data-binary @$W/index.json http://127.0.0.1:5055/v2/test/multi/manifests/latest)
        echo arm=$($C pull -q --tls-verify=false --platform linux/arm64 127.0.0.1:5055/test/multi)
        echo arm_v8=$($C pull -q --tls-verify=false --platform linux/arm64/v8 127.0.0.1:5055/test/multi)
        echo default=$($C pull -q --tls-verify=false 127.0.0.1:5055/test/multi)
        echo none=$($C pull --tls-verify=false --platform linux/s390x 127.0.0.1:5055/test/multi 2>&1 | grep -c 'no image for platform linux/s390x (it has linux/amd64, linux/arm64)')
        "#,
        amd = amd.display(),
        root = lab.e.root.display()
    ));
    s.expect(&[
        ("zstd_in_registry", "2"),
        ("zstd_run", "amd"),
        ("zstd_blobs", "2"),
        ("put", "201"),
        ("none", "1"),
    ]);
    let (amd_id, arm_id) = (
        format!("sha256:{}", s.v("amd_config")),
        format!("sha256:{}", s.v("arm_config")),
    );
    assert_ne!(amd_id, arm_id);
    assert_eq!(s.v("arm"), arm_id, "{}", s.text);
    assert_eq!(s.v("arm_v8"), arm_id, "{}", s.text);
    assert_eq!(s.v("default"), amd_id, "this machine's platform by default: {}", s.text);
}

#[test]
fn login_logout_credentials_files_and_helpers() {
    let lab = Lab::new();
    let archive = lab.seed_archive("bb", "amd64");
    let base = lab.e.root.parent().unwrap().to_path_buf();
    let s = lab.run(&format!(
        r#"htpasswd -Bbn alice s3cret > $W/htpasswd
        start_registry htpasswd
        skopeo copy -q --dest-creds alice:s3cret --dest-tls-verify=false docker-archive:{a} docker://127.0.0.1:5055/test/bb:1
        R=127.0.0.1:5055/test/bb:1
        echo anonymous=$($C pull --tls-verify=false $R 2>&1 | grep -c 'cella login')
        echo wrong=$(echo nope | $C login --tls-verify=false -u alice --password-stdin 127.0.0.1:5055 2>&1 | grep -c 'check the user name and password')
        echo no_file=$(test -e {b}/auth.json && echo yes || echo no)
        echo login=$(echo s3cret | $C login --tls-verify=false -u alice --password-stdin 127.0.0.1:5055 2>/dev/null)
        echo filed=$(grep -c "$(printf alice:s3cret | base64)" {b}/auth.json)
        echo mode=$(stat -c %a {b}/auth.json)
        echo pulled=$($C pull -q --tls-verify=false $R | cut -c1-7)
        echo pushed=$($C push -q --tls-verify=false $R 127.0.0.1:5055/test/again:1; echo $?)
        echo logout=$($C logout 127.0.0.1:5055)
        echo logout_again=$($C logout 127.0.0.1:5055 2>&1 | grep -c 'not logged in to 127.0.0.1:5055')
        echo after_logout=$($C pull --tls-verify=false $R 2>&1 | grep -c 'cella login')
        echo creds=$($C pull -q --creds alice:s3cret --tls-verify=false $R | cut -c1-7)
        # docker's config.json: an auths entry, then a credential helper.
        mkdir -p {b}/docker
        echo '{{"auths":{{"127.0.0.1:5055":{{"auth":"'$(printf alice:s3cret | base64)'"}}}}}}' > {b}/docker/config.json
        echo docker_auths=$($C pull -q --tls-verify=false $R | cut -c1-7)
        mkdir -p $W/bin
        printf '#!/bin/sh\nread server; echo "$server" > %s/helper.asked\necho "{{\\"ServerURL\\":\\"$server\\",\\"Username\\":\\"alice\\",\\"Secret\\":\\"s3cret\\"}}"\n' $W > $W/bin/docker-credential-cellatest
        chmod +x $W/bin/docker-credential-cellatest
        echo '{{"credHelpers":{{"127.0.0.1:5055":"cellatest"}}}}' > {b}/docker/config.json
        echo helper=$(PATH=$W/bin:$PATH $C pull -q --tls-verify=false $R | cut -c1-7)
        echo asked=$(cat $W/helper.asked)
        echo '{{"credHelpers":{{"127.0.0.1:5055":"missing"}}}}' > {b}/docker/config.json
        echo missing_helper=$($C pull --tls-verify=false $R 2>&1 | grep -c 'docker-credential-missing')
        "#,
        a = archive.display(),
        b = base.display()
    ));
    s.expect(&[
        ("anonymous", "1"),
        ("wrong", "1"),
        ("no_file", "no"),
        ("login", "Login Succeeded!"),
        ("filed", "1"),
        ("mode", "600"),
        ("pulled", "sha256:"),
        ("pushed", "0"),
        ("logout", "Removed login credentials for 127.0.0.1:5055"),
        ("logout_again", "1"),
        ("after_logout", "1"),
        ("creds", "sha256:"),
        ("docker_auths", "sha256:"),
        ("helper", "sha256:"),
        ("asked", "127.0.0.1:5055"),
        ("missing_helper", "1"),
    ]);
}

#[test]
fn registries_conf_searches_short_names_and_tries_mirrors_first() {
    let lab = Lab::new();
    let archive = lab.seed_archive("bb", "amd64");
    let conf = lab.e.root.parent().unwrap().join("registries.conf");
    std::fs::write(
        &conf,
        r#"
unqualified-search-registries = ["127.0.0.1:5055"]

[[registry]]
location = "127.0.0.1:5055"
insecure = true

[[registry]]
prefix = "mirror.invalid/team"
location = "mirror.invalid/team"
[[registry.mirror]]
location = "127.0.0.1:5055/test"
insecure = true

[[registry]]
location = "blocked.invalid"
blocked = true
"#,
    )
    .unwrap();
    let s = lab.run(&format!(
        r#"start_registry
        skopeo copy -q --dest-tls-verify=false docker-archive:{a} docker://127.0.0.1:5055/test/bb:1
        echo short=$($C pull -q test/bb:1 >/dev/null && $C images --format json | grep -c '"127.0.0.1:5055/test/bb:1"')
        echo mirrored=$($C pull test/bb:1 >/dev/null 2>&1; $C pull mirror.invalid/team/bb:1 2>&1 | grep -c 'Trying to pull 127.0.0.1:5055/test/bb:1')
        echo mirror_tag=$($C images --format json | grep -c '"mirror.invalid/team/bb:1"')
        echo blocked=$($C pull blocked.invalid/x 2>&1 | grep -c 'blocked by')
        echo 'nonsense = [' > {conf}
        echo bad_conf=$($C pull test/bb:1 2>&1 | grep -c '{conf}: TOML parse error')
        "#,
        a = archive.display(),
        conf = conf.display()
    ));
    s.expect(&[
        ("short", "1"),
        ("mirrored", "1"),
        ("mirror_tag", "1"),
        ("blocked", "1"),
        ("bad_conf", "1"),
    ]);
}

#[test]
fn a_pull_killed_midway_leaves_no_image_and_pulling_again_resumes() {
    let lab = Lab::new();
    // One big layer (incompressible), imported and pushed by cella, so the
    // download takes long enough to be killed in the middle.
    let big = lab.w.join("big");
    std::fs::create_dir_all(&big).unwrap();
    let gen = Command::new("sh")
        .args(["-c", &format!("head -c 256M /dev/urandom > {}/blob", big.display())])
        .status()
        .unwrap();
    assert!(gen.success());
    let root = lab.e.root.display().to_string();
    let s = lab.run(&format!(
        r#"start_registry
        $C import $W/big big:1 >/dev/null
        $C push -q --tls-verify=false big:1 127.0.0.1:5055/test/big:1
        $C rmi big:1 >/dev/null
        $C pull -q --tls-verify=false 127.0.0.1:5055/test/big:1 >/dev/null 2>&1 & P=$!
        # Wait until the layer is part way in, then kill the pull.
        part=0
        for i in $(seq 2000); do
          f=$(ls {root}/partial/sha256-* 2>/dev/null | head -1)
          if [ -n "$f" ] && [ $(stat -c %s $f 2>/dev/null || echo 0) -gt 1000000 ]; then kill -9 $P; part=$(stat -c %s $f); break; fi
          sleep 0.005
        done
        wait $P 2>/dev/null
        echo partial=$([ $part -gt 0 ] && [ $part -lt 268435456 ] && echo yes || echo "no($part)")
        echo after_kill=$($C images -q | grep -vc host)
        echo kept=$(ls {root}/partial | wc -l)
        echo again=$($C pull --tls-verify=false 127.0.0.1:5055/test/big:1 2>$W/again.log | cut -c1-7)
        echo resumed=$(grep -c 'resuming after' $W/again.log)
        echo partial_left=$(ls {root}/partial | wc -l)
        echo size=$(find {root}/layers -name blob -size 262144k | wc -l)
        echo tmp=$(ls {root}/tmp | wc -l)
        "#,
    ));
    s.expect(&[
        ("partial", "yes"),
        ("after_kill", "0"),
        ("kept", "1"),
        ("again", "sha256:"),
        ("resumed", "1"),
        ("partial_left", "0"),
        ("size", "1"),
        ("tmp", "0"),
    ]);
}

/// A token server as Docker Hub's works: basic credentials in, a JWT out
/// (RS256, signed with openssl, its certificate in the x5c header and in
/// the registry's rootcertbundle) granting the scopes asked for.
const TOKEN_SERVER: &str = r#"
import base64, json, os, subprocess, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse
W = sys.argv[1]
der = subprocess.run(["openssl", "x509", "-in", W + "/token.crt", "-outform", "DER"], capture_output=True, check=True).stdout
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
class Token(BaseHTTPRequestHandler):
    def do_GET(self):
        q = parse_qs(urlparse(self.path).query)
        scopes = q.get("scope", [])
        with open(W + "/scopes.log", "a") as f:
            f.write((" ".join(scopes) or "-") + "\n")
        if self.headers.get("Authorization", "") != "Basic " + base64.b64encode(b"bob:t0ken").decode():
            self.send_response(401); self.end_headers(); return
        access = []
        for s in scopes:
            typ, name, actions = s.split(":")
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": "cella-test-issuer", "sub": "bob", "aud": q.get("service", [""])[0], "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", W + "/token.key"], input=signing_input.encode(),
                             capture_output=True, check=True).stdout
        body = json.dumps({"token": signing_input + "." + b64(sig)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", 5060), Token).serve_forever()
"#;

#[test]
fn bearer_tokens_from_a_token_server_for_pull_push_and_login() {
    let lab = Lab::new();
    let archive = lab.seed_archive("bb", "amd64");
    std::fs::write(lab.w.join("token.py"), TOKEN_SERVER).unwrap();
    let s = lab.run(&format!(
        r#"openssl req -x509 -newkey rsa:2048 -nodes -keyout $W/token.key -out $W/token.crt -days 1 -subj /CN=cella-test-token 2>/dev/null
        python3 $W/token.py $W 2>$W/token.log &
        for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/5060) 2>/dev/null && break; sleep 0.05; done
        start_registry token
        skopeo copy -q --dest-creds bob:t0ken --dest-tls-verify=false docker-archive:{a} docker://127.0.0.1:5055/test/bb:1
        R=127.0.0.1:5055/test/bb:1
        : > $W/scopes.log
        echo anonymous=$($C pull --tls-verify=false $R 2>&1 | grep -c 'token from http://127.0.0.1:5060/token: 401: check the user name and password')
        echo login=$(echo t0ken | $C login --tls-verify=false -u bob --password-stdin 127.0.0.1:5055 2>/dev/null)
        echo pulled=$($C pull -q --tls-verify=false $R | cut -c1-7)
        echo pushed=$($C push -q --tls-verify=false $R 127.0.0.1:5055/test/pushed:1; echo $?)
        echo pushed_layers=$(skopeo inspect --creds bob:t0ken --tls-verify=false docker://127.0.0.1:5055/test/pushed:1 | grep -c 'sha256:')
        echo scopes=$(sort -u $W/scopes.log | tr '\n' ' ')
        "#,
        a = archive.display()
    ));
    s.expect(&[
        ("anonymous", "1"),
        ("login", "Login Succeeded!"),
        ("pulled", "sha256:"),
        ("pushed", "0"),
    ]);
    let scopes = s.v("scopes");
    for want in ["repository:test/bb:pull", "repository:test/pushed:pull,push", "-"] {
        assert!(
            scopes.split(' ').any(|x| x == want),
            "the token server was asked for {want}: {}",
            s.text
        );
    }
    assert_ne!(s.v("pushed_layers"), "0", "{}", s.text);
}
