/**
 * The HubSpot sandbox's built-in property definitions per object type (contacts, companies, deals), in the shape
 * of `GET /crm/v3/properties/{objectType}` (developers.hubspot.com "CRM API | Properties"). Deal stages are those of
 * the default sales pipeline (developers.hubspot.com "CRM API | Pipelines": appointmentscheduled … closedlost).
 */
export interface HubspotPropertyOption {
  label: string
  value: string
  displayOrder?: number
  hidden?: boolean
  description?: string
}

export interface HubspotProperty {
  name: string
  label: string
  type: string
  fieldType: string
  groupName: string
  description: string
  options: HubspotPropertyOption[]
  hasUniqueValue: boolean
  hidden: boolean
  formField: boolean
  calculated: boolean
  externalOptions: boolean
  displayOrder: number
  createdAt: string
  updatedAt: string
  archived: boolean
  modificationMetadata: { archivable: boolean; readOnlyDefinition: boolean; readOnlyValue: boolean }
}

export type HubspotObjectType = 'contacts' | 'companies' | 'deals'
export const HUBSPOT_OBJECT_TYPES: HubspotObjectType[] = ['contacts', 'companies', 'deals']
/** Object type ids (developers.hubspot.com "Understanding the CRM": contacts 0-1, companies 0-2, deals 0-3). */
export const OBJECT_TYPE_IDS: Record<HubspotObjectType, string> = { contacts: '0-1', companies: '0-2', deals: '0-3' }

export const LIFECYCLE_STAGES = ['subscriber', 'lead', 'marketingqualifiedlead', 'salesqualifiedlead', 'opportunity', 'customer', 'evangelist', 'other']
export const LEAD_STATUSES = ['NEW', 'OPEN', 'IN_PROGRESS', 'OPEN_DEAL', 'UNQUALIFIED', 'ATTEMPTED_TO_CONTACT', 'CONNECTED', 'BAD_TIMING']
export const DEAL_STAGES = ['appointmentscheduled', 'qualifiedtobuy', 'presentationscheduled', 'decisionmakerboughtin', 'contractsent', 'closedwon', 'closedlost']
export const CURRENCIES = ['USD', 'EUR', 'GBP', 'CAD', 'AUD', 'JPY', 'CHF', 'SEK']

/** Properties returned when a request names none (what HubSpot answers for each object type). */
export const DEFAULT_RETURNED: Record<HubspotObjectType, string[]> = {
  contacts: ['email', 'firstname', 'lastname', 'createdate', 'lastmodifieddate', 'hs_object_id'],
  companies: ['name', 'domain', 'createdate', 'hs_lastmodifieddate', 'hs_object_id'],
  deals: ['dealname', 'amount', 'dealstage', 'pipeline', 'closedate', 'createdate', 'hs_lastmodifieddate', 'hs_object_id']
}
/** The property each object type stamps with its last modification. */
export const LAST_MODIFIED: Record<HubspotObjectType, string> = { contacts: 'lastmodifieddate', companies: 'hs_lastmodifieddate', deals: 'hs_lastmodifieddate' }

const READ_ONLY_META = { archivable: false, readOnlyDefinition: true, readOnlyValue: true }

function builtIn(name: string, label: string, groupName: string, extra: Partial<HubspotProperty> = {}): HubspotProperty {
  const at = '2019-08-06T02:41:08.029Z'
  return {
    name,
    label,
    type: 'string',
    fieldType: 'text',
    groupName,
    description: '',
    options: [],
    hasUniqueValue: false,
    hidden: false,
    formField: true,
    calculated: false,
    externalOptions: false,
    displayOrder: -1,
    createdAt: at,
    updatedAt: at,
    archived: false,
    modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: false },
    ...extra
  }
}

function enumOptions(values: string[]): HubspotPropertyOption[] {
  return values.map((value, displayOrder) => ({ label: value, value, displayOrder, hidden: false }))
}

const systemProps = (group: string, lastModified: string) => [
  builtIn('hs_object_id', 'Record ID', group, { type: 'number', fieldType: 'number', hasUniqueValue: true, modificationMetadata: READ_ONLY_META }),
  builtIn('createdate', 'Create Date', group, { type: 'datetime', fieldType: 'date', modificationMetadata: READ_ONLY_META }),
  builtIn(lastModified, 'Last Modified Date', group, { type: 'datetime', fieldType: 'date', modificationMetadata: READ_ONLY_META })
]

export function defaultProperties(objectType: HubspotObjectType): Map<string, HubspotProperty> {
  const list: HubspotProperty[] =
    objectType === 'contacts'
      ? [
          builtIn('email', 'Email', 'contactinformation'),
          builtIn('firstname', 'First Name', 'contactinformation'),
          builtIn('lastname', 'Last Name', 'contactinformation'),
          builtIn('phone', 'Phone Number', 'contactinformation'),
          builtIn('company', 'Company Name', 'contactinformation'),
          ...systemProps('contactinformation', 'lastmodifieddate'),
          builtIn('lifecyclestage', 'Lifecycle Stage', 'contactinformation', { type: 'enumeration', fieldType: 'radio', options: enumOptions(LIFECYCLE_STAGES) }),
          builtIn('hs_lead_status', 'Lead Status', 'sales_properties', { type: 'enumeration', fieldType: 'radio', options: enumOptions(LEAD_STATUSES) })
        ]
      : objectType === 'companies'
        ? [
            builtIn('name', 'Company name', 'companyinformation'),
            builtIn('domain', 'Company Domain Name', 'companyinformation'),
            builtIn('industry', 'Industry', 'companyinformation'),
            builtIn('phone', 'Phone Number', 'companyinformation'),
            builtIn('city', 'City', 'companyinformation'),
            builtIn('country', 'Country/Region', 'companyinformation'),
            builtIn('lifecyclestage', 'Lifecycle Stage', 'companyinformation', { type: 'enumeration', fieldType: 'radio', options: enumOptions(LIFECYCLE_STAGES) }),
            ...systemProps('companyinformation', 'hs_lastmodifieddate')
          ]
        : [
            builtIn('dealname', 'Deal Name', 'dealinformation'),
            builtIn('amount', 'Amount', 'dealinformation', { type: 'number', fieldType: 'number' }),
            builtIn('dealstage', 'Deal Stage', 'dealinformation', { type: 'enumeration', fieldType: 'radio', options: enumOptions(DEAL_STAGES) }),
            builtIn('pipeline', 'Pipeline', 'dealinformation', { type: 'enumeration', fieldType: 'select', options: enumOptions(['default']) }),
            builtIn('closedate', 'Close Date', 'dealinformation', { type: 'datetime', fieldType: 'date' }),
            builtIn('deal_currency_code', 'Currency', 'dealinformation', { type: 'enumeration', fieldType: 'select', options: enumOptions(CURRENCIES) }),
            builtIn('hs_is_closed_won', 'Is Closed Won', 'dealinformation', { type: 'bool', fieldType: 'booleancheckbox', calculated: true, modificationMetadata: READ_ONLY_META }),
            ...systemProps('dealinformation', 'hs_lastmodifieddate')
          ]
  return new Map(list.map((p) => [p.name, p]))
}
