# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX job template of docs/awx: its survey's answers (the manifest as YAML text, the
switches as simple variables) go through the project's playbook, as AWX would launch it."""

import json
import os

import yaml

from playbooks import ROOT, netns_list, run_playbook

AWX = os.path.join(ROOT, 'docs', 'awx')
PROJECT_PLAYBOOK = os.path.join(AWX, 'project', 'vm.yml')


def load(name):
    with open(os.path.join(AWX, name)) as handle:
        return json.load(handle)


def role_inputs():
    with open(os.path.join(ROOT, 'roles', 'vm', 'meta', 'argument_specs.yml')) as handle:
        return set(yaml.safe_load(handle)['argument_specs']['main']['options'])


def manifest_text(name, binding='bridge'):
    return yaml.safe_dump({
        'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
        'spec': {'template': {'spec': {
            'domain': {'devices': {'interfaces': [{'name': 'default', binding: {}}]}},
            'networks': [{'name': 'default', 'pod': {}}]}}}})


def records(state_dir):
    """The VMs' records under the state dir (its lock directory aside)."""
    return [] if not os.path.isdir(state_dir) else [e for e in os.listdir(state_dir) if e != '.locks']


def survey_answers(survey, answers):
    """What AWX would send: every answer checked against its question, defaults filled in."""
    questions = dict((q['variable'], q) for q in survey['spec'])
    assert set(answers) <= set(questions)
    out = {}
    for variable, question in questions.items():
        value = answers.get(variable, question.get('default'))
        if question['required']:
            assert value not in (None, ''), variable
        if question['type'] == 'multiplechoice':
            assert value in question['choices'].split('\n'), (variable, value)
        elif question['type'] == 'multiselect':
            value = value or []
            assert set(value) <= set(question['choices'].split('\n')), (variable, value)
        elif question['type'] in ('text', 'textarea'):
            assert question.get('min', 0) <= len(value) <= question['max'], variable
        if value not in (None, ''):
            out[variable] = value
    return out


def test_survey_asks_only_for_the_role_inputs_and_the_target():
    survey, template = load('survey.json'), load('job_template.json')
    variables = [q['variable'] for q in survey['spec']]
    assert set(variables) - {'vmnet_hosts'} <= role_inputs()
    assert 'vmnet_hosts' in variables and 'vmnet_vm_manifest' in variables
    manifest = [q for q in survey['spec'] if q['variable'] == 'vmnet_vm_manifest'][0]
    assert manifest['type'] == 'textarea' and manifest['required']
    assert template['survey_enabled'] and template['become_enabled']
    assert os.path.exists(os.path.join(AWX, 'project', template['playbook']))
    yaml.safe_load(template['extra_vars'])


def test_survey_answers_in_check_mode_change_nothing(make_domain, podnet, tmp_path):
    guest = make_domain('vmnt-awx')
    answers = survey_answers(load('survey.json'), {
        'vmnet_hosts': 'localhost',
        'vmnet_vm_manifest': manifest_text(guest.name),
        'vmnet_vm_state': 'present',
        'vmnet_vm_permit_bridge_interface_on_pod_network': 'true',
    })
    assert isinstance(answers['vmnet_vm_manifest'], str)
    before = netns_list()
    pod_options = dict(('vmnet_pod_' + k, v) for k, v in podnet.pod_options().items())
    run = run_playbook(PROJECT_PLAYBOOK, dict(answers, **pod_options), check=True, tmp_path=tmp_path)
    assert run.rc == 0, run.output
    assert run.changed > 0 and run.failed == 0, run.output       # it would attach and bind
    assert netns_list() == before                                  # check mode: no pod
    assert records(podnet.state_dir) == []
    assert 'ua-default' not in guest.domain.XMLDesc(0)

    # KubeVirt's admission through the simple switch: bridge on the pod network refused.
    answers['vmnet_vm_permit_bridge_interface_on_pod_network'] = 'false'
    run = run_playbook(PROJECT_PLAYBOOK, dict(answers, **pod_options), check=True, tmp_path=tmp_path)
    assert run.rc != 0 and 'Bridge on pod network configuration is not enabled' in run.output, run.output
    assert netns_list() == before and records(podnet.state_dir) == []


def test_missing_domain_fails_before_the_host_changes(podnet, tmp_path):
    before = netns_list()
    answers = {'vmnet_hosts': 'localhost', 'vmnet_vm_manifest': manifest_text('vmnt-awx-nodomain')}
    pod_options = dict(('vmnet_pod_' + k, v) for k, v in podnet.pod_options().items())
    run = run_playbook(PROJECT_PLAYBOOK, dict(answers, **pod_options), tmp_path=tmp_path)
    assert run.rc != 0 and 'vmnt-awx-nodomain does not exist' in run.output, run.output
    assert run.changed == 0
    assert netns_list() == before
    assert records(podnet.state_dir) == []


def test_no_target_no_run(tmp_path):
    run = run_playbook(PROJECT_PLAYBOOK, {'vmnet_vm_manifest': manifest_text('vmnt-awx-x')}, tmp_path=tmp_path)
    assert run.rc != 0 and 'vmnet_hosts must name the hypervisor' in run.output, run.output
