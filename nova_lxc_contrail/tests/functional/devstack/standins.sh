#!/bin/bash
# Stand-ins for the DevStack helpers devstack/plugin.sh calls, written from
# their documented behaviour (../shared/reference/devstack.md), since
# DevStack itself cannot run here. Sourced by run-phases.sh.
#
# Calls that would install software are recorded, one per line, in
# $NLC_CALLS; setup_develop also makes the package importable from
# DEVSTACK_VENV the way an editable install does (a .pth file), so the
# test's real virtualenv is never modified.

NLC_CALLS=${NLC_CALLS:-/dev/null}

function _standin_record {
    echo "$*" >> "$NLC_CALLS"
}

# iniset [-sudo] FILE SECTION OPTION VALUE
# Creates a missing file, appends a missing section, adds a missing option
# right after its section header, replaces an existing one. An empty section
# or option does nothing; a missing directory is an error. VALUE goes
# through an unquoted echo: whitespace collapses and globs expand.
function iniset {
    if [[ $1 == -sudo ]]; then
        shift
    fi
    local file=$1 section=$2 option=$3
    local value
    # shellcheck disable=SC2086,SC2116
    value=$(echo $4)
    if [[ -z $section || -z $option ]]; then
        return 0
    fi
    if [[ ! -d $(dirname "$file") ]]; then
        echo "iniset: $file: No such file or directory" >&2
        return 1
    fi
    if ! grep -qxF "[$section]" "$file" 2>/dev/null; then
        printf '\n[%s]\n' "$section" >> "$file"
    fi
    if _standin_has "$file" "$section" "$option"; then
        SECTION="[$section]" OPTION=$option VALUE=$value awk '
            /^\[.*\]$/ { in_section = ($0 == ENVIRON["SECTION"]) }
            in_section && index($0, ENVIRON["OPTION"]) == 1 {
                rest = substr($0, length(ENVIRON["OPTION"]) + 1)
                if (match(rest, /^[ \t]*=[ \t]*/)) {
                    print ENVIRON["OPTION"] substr(rest, 1, RLENGTH) ENVIRON["VALUE"]
                    next
                }
            }
            { print }
        ' "$file" > "$file.standin"
    else
        SECTION="[$section]" LINE="$option = $value" awk '
            { print }
            $0 == ENVIRON["SECTION"] { print ENVIRON["LINE"] }
        ' "$file" > "$file.standin"
    fi
    cat "$file.standin" > "$file"
    rm -f "$file.standin"
}

# _standin_has FILE SECTION OPTION: whether OPTION is set in SECTION.
function _standin_has {
    SECTION="[$2]" OPTION=$3 awk '
        /^\[.*\]$/ { in_section = ($0 == ENVIRON["SECTION"]); next }
        in_section && index($0, ENVIRON["OPTION"]) == 1 &&
            substr($0, length(ENVIRON["OPTION"]) + 1) ~ /^[ \t]*=/ { found = 1 }
        END { exit !found }
    ' "$1" 2>/dev/null
}

# iniget FILE SECTION OPTION: the value, or nothing for a missing file,
# section or option.
function iniget {
    local file=$1 section=$2 option=$3
    local line
    if [[ ! -f $file ]]; then
        echo
        return 0
    fi
    line=$(SECTION="[$section]" OPTION=$option awk '
        /^\[.*\]$/ { in_section = ($0 == ENVIRON["SECTION"]); next }
        in_section && index($0, ENVIRON["OPTION"]) == 1 &&
            substr($0, length(ENVIRON["OPTION"]) + 1) ~ /^[ \t]*=/ { print }
    ' "$file")
    # shellcheck disable=SC2086
    echo ${line#*=}
}

# is_service_enabled NAME...: true if any NAME is enabled; the group names
# nova, glance, neutron, cinder, swift and trove stand for their n-, g-,
# q-, c-, s- and tr- services.
function is_service_enabled {
    local service
    for service in "$@"; do
        if [[ ,${ENABLED_SERVICES}, == *,"$service",* ]]; then
            return 0
        fi
        case $service in
            nova) [[ ,${ENABLED_SERVICES} == *,n-* ]] && return 0 ;;
            glance) [[ ,${ENABLED_SERVICES} == *,g-* ]] && return 0 ;;
            neutron) [[ ,${ENABLED_SERVICES} == *,q-* ]] && return 0 ;;
            cinder) [[ ,${ENABLED_SERVICES} == *,c-* ]] && return 0 ;;
            swift) [[ ,${ENABLED_SERVICES} == *,s-* ]] && return 0 ;;
            trove) [[ ,${ENABLED_SERVICES} == *,tr-* ]] && return 0 ;;
            n-cpu-*) [[ ,${ENABLED_SERVICES}, == *,n-cpu,* ]] && return 0 ;;
        esac
    done
    return 1
}

function enable_service {
    local service
    for service in "$@"; do
        if [[ ,${DISABLED_SERVICES:-}, == *,"$service",* ]]; then
            continue
        fi
        if ! is_service_enabled "$service"; then
            ENABLED_SERVICES=${ENABLED_SERVICES:+$ENABLED_SERVICES,}$service
        fi
    done
}

function disable_service {
    local service
    for service in "$@"; do
        DISABLED_SERVICES=${DISABLED_SERVICES:+$DISABLED_SERVICES,}$service
        ENABLED_SERVICES=,$ENABLED_SERVICES,
        ENABLED_SERVICES=${ENABLED_SERVICES//,$service,/,}
        ENABLED_SERVICES=${ENABLED_SERVICES#,}
        ENABLED_SERVICES=${ENABLED_SERVICES%,}
    done
}

# trueorfalse DEFAULT VARNAME: the variable as True or False.
function trueorfalse {
    local default=$1 name=$2
    local value=${!name:-$default}
    case $value in
        1|yes|Yes|YES|true|True|TRUE|on|On|ON) echo True ;;
        0|no|No|NO|false|False|FALSE|off|Off|OFF) echo False ;;
        *) echo "$default" ;;
    esac
}

function is_ubuntu {
    [[ ${os_PACKAGE:-} == deb ]]
}

# die LINENO MESSAGE...: print and end the (sourcing) shell.
function die {
    local status=$?
    local line=$1
    shift
    if [[ $status == 0 ]]; then
        status=1
    fi
    echo "[ERROR] ${BASH_SOURCE[1]:-$0}:$line $*" >&2
    exit "$status"
}

# warn LINENO MESSAGE: like DevStack's, it returns the previous status.
function warn {
    local status=$?
    echo "[WARNING] ${BASH_SOURCE[1]:-$0}:$1 $2"
    return $status
}

# Only read by tools (with a regex); no-ops in DevStack too.
function define_plugin {
    :
}

function plugin_requires {
    :
}

function install_package {
    _standin_record "install_package $*"
}

function pip_install {
    _standin_record "pip_install $*"
}

# setup_develop DIR [EXTRAS]: pip install -e DIR into DevStack's venv.
function setup_develop {
    local dir=$1
    local site script
    _standin_record "setup_develop $*"
    if [[ ! -f $dir/setup.cfg ]]; then
        echo "setup_develop: $dir is not a Python project" >&2
        return 1
    fi
    site=$("$DEVSTACK_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    echo "$dir" > "$site/10-$(basename "$dir").pth"
    # Its console scripts (setup.cfg's), each recording how it is called.
    for script in $(_standin_console_scripts "$dir/setup.cfg"); do
        printf '#!/bin/bash\necho "%s $*" >> %q\n' "$script" "$NLC_CALLS" \
            > "$DEVSTACK_VENV/bin/$script"
        chmod +x "$DEVSTACK_VENV/bin/$script"
    done
}

# The names of [entry_points] console_scripts in a setup.cfg.
function _standin_console_scripts {
    awk '
        /^\[/ { section = $0; listing = 0; next }
        section == "[entry_points]" && /^console_scripts[ \t]*=/ { listing = 1; next }
        listing && /^[ \t]+[^ \t]/ { print $1; next }
        { listing = 0 }
    ' "$1"
}

# run_process SERVICE COMMAND [GROUP [USER]]: for an enabled service only,
# start COMMAND as the systemd unit devstack@SERVICE (recorded, and the
# unit is active); DevStack dies on a command with sudo or without an
# absolute path, which systemd could not run.
function run_process {
    local service=$1 command=$2
    if ! is_service_enabled "$service"; then
        return 0
    fi
    if [[ $command =~ sudo || ! $command =~ ^/ ]]; then
        echo "[ERROR] run_process $service: cmd=\"$command\" has sudo or does" \
            "not start with an absolute path: systemd cannot run it" >&2
        exit 1
    fi
    _standin_record "run_process $service $command"
    _standin_unit_state "$service" active
}

# stop_process SERVICE: stop devstack@SERVICE of an enabled service.
function stop_process {
    local service=$1
    if ! is_service_enabled "$service"; then
        return 0
    fi
    _standin_record "stop_process $service"
    _standin_unit_state "$service" inactive
}

# What run-phases.sh's systemctl stand-in answers for devstack@SERVICE.
function _standin_unit_state {
    if [[ -d ${NLC_WORK:-}/journal ]]; then
        echo "$2" > "$NLC_WORK/journal/devstack@$1.state"
    fi
}

# async_runfunc NAME [ARGS]: run a function in the background;
# async_wait NAME...: wait for it, or say so when it never ran or was
# already waited for (and succeed).
declare -A _STANDIN_ASYNC
function async_runfunc {
    "$@" &
    _STANDIN_ASYNC[$1]=$!
}

function async_wait {
    local name status=0
    for name in "$@"; do
        if [[ -n ${_STANDIN_ASYNC[$name]:-} ]]; then
            wait "${_STANDIN_ASYNC[$name]}" || status=$?
            unset "_STANDIN_ASYNC[$name]"
        else
            echo "Not waiting for async task $name that we never started or" \
                "has already been waited for"
        fi
    done
    return $status
}

# merge_config_group-style merge of a [[post-config|$NOVA_CONF]] section:
# every option of the user's section goes through iniset, after the plugins.
# merge_post_config LOCAL_CONF_SNIPPET TARGET
function merge_post_config {
    local snippet=$1 target=$2
    local section="" line option value
    while IFS= read -r line; do
        if [[ $line =~ ^\[(.*)\]$ ]]; then
            section=${BASH_REMATCH[1]}
        elif [[ $line =~ ^([^#=[:space:]]+)[[:space:]]*=[[:space:]]*(.*)$ ]]; then
            option=${BASH_REMATCH[1]}
            value=${BASH_REMATCH[2]}
            iniset "$target" "$section" "$option" "$value"
        fi
    done < "$snippet"
}
